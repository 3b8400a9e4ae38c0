"""`python -m services.eligibility`: serve the eligibility service."""

import sys

from chassis.http import serve
from services.eligibility.app import create_app
from services.eligibility.settings import EligibilitySettings, PolicyFileError


def main() -> None:
    settings = EligibilitySettings()
    try:
        app = create_app(settings)
    except PolicyFileError as error:
        print(f"eligibility: cannot start: {error}", file=sys.stderr)
        sys.exit(2)
    serve(app, host=settings.host, port=settings.port)


if __name__ == "__main__":
    main()
