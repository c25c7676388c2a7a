"""What a message says: templates, SMS text and size, the .ics attachment."""
