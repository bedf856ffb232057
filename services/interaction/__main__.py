"""`python -m services.interaction` — run the interaction service's HTTP API."""

from services.interaction.app import create_app
from services.interaction.settings import get_settings
from shared.service import serve

if __name__ == "__main__":
    serve(create_app, get_settings())
