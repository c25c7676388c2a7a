"""Schedules in: the clinic's files and the API's rows, validated, then written."""
