"""`python -m services.eligibility`: serve the eligibility service."""

from chassis.http import serve
from services.eligibility.app import create_app
from services.eligibility.settings import EligibilitySettings


def main() -> None:
    settings = EligibilitySettings()
    serve(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
