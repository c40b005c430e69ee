"""Reading one environment variable at a time: typed, bounded, and named in every error."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from gateway import phone, redisclient
from gateway.channels.registry import BY_NAME, ROUTES


class ConfigError(ValueError):
    """A setting is missing or malformed; str() is one line naming the variable."""

    def __init__(self, name: str, problem: str):
        super().__init__(f"{name}: {problem}")
        self.name = name


class Reader:
    """Reads and checks one variable at a time so every error names its variable."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.names: list[str] = []

    def raw(self, name: str) -> str | None:
        self.names.append(name)
        value = self.env.get(name)
        return value.strip() if value is not None and value.strip() != "" else None

    def text(self, name: str, default: str, needed: bool = False) -> str:
        value = self.raw(name)
        if value is None and needed:
            raise ConfigError(name, "required by the SMS route that uses it (see SMS_ROUTES)")
        return default if value is None else value

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.raw(name) or default
        if value not in options:
            raise ConfigError(name, f"expected one of {', '.join(options)}, got {value!r}")
        return value

    def integer(self, name: str, default: int, low: int = 0, high: int | None = None) -> int:
        value = self.raw(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(name, f"expected a whole number, got {value!r}") from None
        if number < low or (high is not None and number > high):
            upper = f" and at most {high}" if high is not None else ""
            raise ConfigError(name, f"expected at least {low}{upper}, got {number}")
        return number

    def flag(self, name: str, default: bool) -> bool:
        value = self.raw(name)
        if value is None:
            return default
        if value.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ConfigError(name, f"expected 1 or 0, got {value!r}")
        return value.lower() in ("1", "true", "yes", "on")

    def simulator(self, name: str, production: bool, routes: tuple[str, ...]) -> bool:
        # The simulator plays phones through the real webhooks: with a route that reaches real
        # phones, it would send real SMS and could act on real cases. Off by default then.
        live = [route for route in routes if BY_NAME[route].reaches_phones]
        wanted = self.flag(name, not production and not live)
        if wanted and live:
            raise ConfigError(
                name,
                "the simulator runs only when every SMS route is console "
                f"(SMS_ROUTES has {', '.join(live)}, which reach real phones)",
            )
        return wanted

    def delays(self, name: str, default: tuple[int, ...]) -> tuple[int, ...]:
        value = self.raw(name)
        if value is None:
            return default
        try:
            delays = tuple(int(part) for part in value.split(","))
        except ValueError:
            raise ConfigError(
                name, f"expected seconds separated by commas, got {value!r}"
            ) from None
        if not delays or min(delays) < 1 or len(delays) > 10:
            raise ConfigError(name, "expected 1 to 10 delays of at least 1 second")
        return delays

    def prices(self, name: str) -> dict[str, float]:
        """route=price pairs separated by commas ("twilio=0.05,android=0"), prices >= 0."""
        value = self.raw(name)
        if value is None:
            return {}
        prices = {}
        for part in value.split(","):
            route, _, price = part.partition("=")
            try:
                prices[route.strip()] = float(price)
            except ValueError:
                raise ConfigError(
                    name, f"expected route=price pairs separated by commas, got {part!r}"
                ) from None
            if prices[route.strip()] < 0 or not route.strip():
                raise ConfigError(name, f"{part!r}: a route and a price of 0 or more")
        return prices

    def selftest_numbers(self, name: str, routes: tuple[str, ...]) -> dict[str, str]:
        """route=number pairs separated by commas ("twilio=+992...,android=+992..."): a phone
        of the organisation's own per route, for the daily self-test SMS."""
        value = self.raw(name)
        numbers: dict[str, str] = {}
        for part in (value or "").split(","):
            if not part.strip():
                continue
            route, _, number = (x.strip() for x in part.partition("="))
            if route not in routes:
                raise ConfigError(name, f"{route!r} is not one of SMS_ROUTES ({', '.join(routes)})")
            try:
                numbers[route] = phone.normalise(number)
            except ValueError as error:
                raise ConfigError(name, f"the number for {route}: {error}") from None
        return numbers

    def path(self, name: str, default: Path) -> Path:
        value = self.raw(name)
        return default if value is None else Path(value).expanduser().resolve()

    def existing_file(self, name: str, default: Path | None) -> Path:
        value = self.raw(name)
        if value is None and default is None:
            raise ConfigError(name, "required in production (path of the directory YAML file)")
        path = default if value is None else Path(value).expanduser().resolve()
        if not path.is_file():
            raise ConfigError(name, f"no such file: {path}")
        return path

    def url(self, name: str, default: str | None) -> str:
        value = self.raw(name)
        if value is None:
            if default is None:
                raise ConfigError(name, "required (an http:// or https:// URL)")
            return default
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(name, f"expected an http:// or https:// URL, got {value!r}")
        return value.rstrip("/")

    def redis_url(self, name: str, default: str) -> str:
        value = self.raw(name) or default
        wrong = redisclient.problem(value)
        if wrong:
            raise ConfigError(name, f"{wrong}, got {redisclient.shown(value)!r}")
        return value

    def secret(self, name: str, default: str | None, min_len: int) -> str:
        value = self.raw(name) or default
        if value is None:
            raise ConfigError(name, "required in production (a random secret)")
        if len(value) < min_len:
            raise ConfigError(name, f"too short: use at least {min_len} random characters")
        return value

    def fernet_keys(self, name: str, default: str | None) -> tuple[str, ...]:
        value = self.raw(name) or default
        if value is None:
            raise ConfigError(
                name,
                "required in production: one or more Fernet keys, newest first, comma-separated"
                " (make one with: python -m gateway.privacy --new-key)",
            )
        keys = tuple(k.strip() for k in value.split(",") if k.strip())
        from base64 import urlsafe_b64decode

        for position, key in enumerate(keys, 1):
            try:
                ok = len(urlsafe_b64decode(key.encode())) == 32
            except ValueError:
                ok = False
            if not ok:
                raise ConfigError(
                    name, f"key {position} is not a Fernet key (32 url-safe base64-encoded bytes)"
                )
        return keys

    def routes(self, name: str) -> tuple[str, ...]:
        value = self.raw(name)
        if value is None:
            return ("console",)
        routes = tuple(r.strip().lower() for r in value.split(",") if r.strip())
        unknown = [r for r in routes if r not in ROUTES]
        if unknown or not routes or len(set(routes)) != len(routes):
            raise ConfigError(
                name, f"expected a comma-separated list of {', '.join(ROUTES)}, got {value!r}"
            )
        return routes
