"""`python -m services.intake`: serve the intake service."""

from chassis.http import serve
from services.intake.app import create_app
from services.intake.settings import IntakeSettings


def main() -> None:
    settings = IntakeSettings()
    serve(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
