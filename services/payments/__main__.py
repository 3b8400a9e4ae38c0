"""`python -m services.payments`: serve the payments service."""

from chassis.http import serve
from services.payments.app import create_app
from services.payments.settings import PaymentsSettings


def main() -> None:
    settings = PaymentsSettings()
    serve(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
