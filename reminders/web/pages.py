"""Placeholder: routes of the console's pages."""

from fastapi import APIRouter

router = APIRouter()
