"""`python -m services.customer` — run the customer service's HTTP API."""

from services.customer.app import create_app
from services.customer.settings import get_settings
from shared.service import serve

if __name__ == "__main__":
    serve(create_app, get_settings())
