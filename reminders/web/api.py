"""Placeholder: routes of the console's api."""

from fastapi import APIRouter

router = APIRouter()
