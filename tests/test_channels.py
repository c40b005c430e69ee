"""Every channel in the registry is read from the environment and mounted, with nothing else
to edit: a new route is its module plus its line in gateway/channels/registry.py."""

from config.settings import SECRETS, Settings
from gateway.channels.registry import CHANNELS, ROUTES
from testing.env import make_env


def test_every_channel_route_is_mounted_as_a_post_endpoint(app):
    rules = {rule.rule: rule for rule in app.url_map.iter_rules()}
    for channel in CHANNELS:
        for route in channel.routes:
            assert route.path in rules, f"{channel.name}: {route.path} not mounted"
            assert "POST" in rules[route.path].methods
            assert rules[route.path].endpoint == f"webhooks.{route.name}"


def test_every_channel_reads_its_own_settings(tmp_path):
    settings = Settings.from_env(make_env("redis://127.0.0.1:6379/0", tmp_path))
    assert set(settings.channels) == {channel.name for channel in CHANNELS}
    for channel in CHANNELS:
        assert isinstance(settings.channels[channel.name], channel.config)


def test_sms_routes_are_the_channels_that_send():
    assert set(ROUTES) == {c.name for c in CHANNELS if c.sender is not None}
    assert {"twilio", "android", "console"} <= set(ROUTES)
    assert "africastalking" not in ROUTES


def test_channel_secrets_are_redacted_and_never_recorded(tmp_path):
    env = make_env(
        "redis://127.0.0.1:6379/0",
        tmp_path,
        SMS_ROUTES="twilio",
        TWILIO_ACCOUNT_SID="AC0000",
        TWILIO_AUTH_TOKEN="a-token-of-twilio",
        TWILIO_FROM="+15005550006",
    )
    settings = Settings.from_env(env)
    assert "a-token-of-twilio" in settings.secret_values
    for channel in CHANNELS:
        assert set(channel.secrets) <= set(SECRETS)
