"""`python -m services.complaint` — run the complaint service's HTTP API."""

from services.complaint.app import create_app
from services.complaint.settings import get_settings
from shared.service import serve

if __name__ == "__main__":
    serve(create_app, get_settings())
