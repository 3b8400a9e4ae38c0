"""`python -m services.notifications`: serve the notifications service."""

from chassis.http import serve
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings


def main() -> None:
    settings = NotificationsSettings()
    serve(create_app(settings), host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
