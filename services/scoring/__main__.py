"""`python -m services.scoring` — run the scoring service's HTTP API."""

from services.scoring.app import create_app
from services.scoring.settings import get_settings
from shared.service import serve

if __name__ == "__main__":
    serve(create_app, get_settings())
