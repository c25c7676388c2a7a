"""Placeholder: routes of the console's health."""

from fastapi import APIRouter

router = APIRouter()
