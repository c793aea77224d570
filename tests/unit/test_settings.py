"""Unit tests for fibsvc.settings: defaults, environment variables and one-line errors."""

import os

import pytest

from fibsvc.settings import ConfigError, ServerSettings, Settings

MIB = 1024 * 1024

# (variable, Settings field, accepted minimum, accepted maximum)
APP_VARIABLES = [
    ("FIBSVC_MAX_N", "max_n", 1, 100_000_000),
    ("FIBSVC_MAX_COUNT", "max_count", 1, 1_000_000),
    ("FIBSVC_MAX_SEQUENCE_BYTES", "max_sequence_bytes", 1024, 1024 * MIB),
    ("FIBSVC_CACHE_BYTES", "cache_bytes", 0, 64 * 1024 * MIB),
    ("FIBSVC_HEAVY_N", "heavy_n", 1, 100_000_000),
    ("FIBSVC_HEAVY_SLOTS", "heavy_slots", 1, 256),
]
SERVER_VARIABLES = [
    ("WEB_CONCURRENCY", "workers", 1, 256),
    ("FIBSVC_THREADS", "threads", 1, 256),
    ("FIBSVC_DRAIN_SECONDS", "drain_seconds", 0, 300),
]
BAD_INTEGERS = ["abc", "-1", "1.5", "1e6", " 5", "5 ", "+5", "05", "5\n", "1_000", "9" * 30, "9" * 5000]


def bad_values(minimum: int, maximum: int) -> list[str]:
    """Return texts a variable with range [minimum, maximum] must refuse."""
    below = [str(minimum - 1), "0"] if minimum >= 1 else [str(minimum - 1)]
    return list(dict.fromkeys([*BAD_INTEGERS, *below, str(maximum + 1)]))


def assert_one_line_naming(error: ConfigError, variable: str, minimum: int, maximum: int) -> None:
    """Check the message is a single line naming the variable and both ends of its range."""
    message = str(error)
    assert message
    assert "\n" not in message
    assert "\r" not in message
    assert variable in message
    assert str(minimum) in message
    assert str(maximum) in message


class TestSettingsDefaults:
    """Settings.from_env with nothing set gives the documented defaults."""

    def test_empty_environment_gives_documented_defaults(self) -> None:
        """max_n 1,000,000, max_count 10,000, 8 MiB sequences and a 32 MiB cache."""
        settings = Settings.from_env({})
        assert (settings.max_n, settings.max_count, settings.max_sequence_bytes, settings.cache_bytes) == (
            1_000_000,
            10_000,
            8_388_608,
            33_554_432,
        )

    def test_empty_value_counts_as_unset(self) -> None:
        """A variable set to the empty string takes its default."""
        settings = Settings.from_env({variable: "" for variable, _, _, _ in APP_VARIABLES})
        assert settings == Settings.from_env({})

    def test_unrelated_variables_are_ignored(self) -> None:
        """Variables outside FIBSVC_* do not change the settings."""
        assert Settings.from_env({"MAX_N": "5", "fibsvc_max_n": "5"}).max_n == 1_000_000


class TestSettingsVariables:
    """Each FIBSVC_* variable is read and validated against its range."""

    @pytest.mark.parametrize(("variable", "field", "minimum", "maximum"), APP_VARIABLES)
    def test_variable_sets_its_field_only(
        self, variable: str, field: str, minimum: int, maximum: int
    ) -> None:
        """A valid value lands in its own field and the others keep their defaults."""
        value = min(max(minimum, 1) + 12_345, maximum)
        settings = Settings.from_env({variable: str(value)})
        defaults = Settings.from_env({})
        assert getattr(settings, field) == value
        others = [name for _, name, _, _ in APP_VARIABLES if name != field]
        assert [getattr(settings, name) for name in others] == [getattr(defaults, name) for name in others]

    @pytest.mark.parametrize(("variable", "field", "minimum", "maximum"), APP_VARIABLES)
    def test_both_ends_of_the_range_are_accepted(
        self, variable: str, field: str, minimum: int, maximum: int
    ) -> None:
        """The minimum and the maximum themselves are valid values."""
        read = [getattr(Settings.from_env({variable: str(v)}), field) for v in (minimum, maximum)]
        assert read == [minimum, maximum]

    @pytest.mark.parametrize(
        ("variable", "minimum", "maximum", "text"),
        [
            (variable, minimum, maximum, text)
            for variable, _, minimum, maximum in APP_VARIABLES
            for text in bad_values(minimum, maximum)
        ],
    )
    def test_bad_value_raises_one_line_config_error(
        self, variable: str, minimum: int, maximum: int, text: str
    ) -> None:
        """Non-canonical, fractional, signed, padded, out-of-range and huge values raise ConfigError."""
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({variable: text})
        assert_one_line_naming(caught.value, variable, minimum, maximum)


class TestServerBind:
    """FIBSVC_BIND takes HOST:PORT or unix:/PATH."""

    def test_bind_defaults_to_loopback_port_5000(self) -> None:
        """Without FIBSVC_BIND the server binds 127.0.0.1:5000."""
        assert ServerSettings.from_env({}).bind == "127.0.0.1:5000"

    @pytest.mark.parametrize("bind", ["0.0.0.0:5000", "[::1]:8080", "unix:/tmp/x.sock", "localhost:65535"])
    def test_valid_bind_is_accepted_unchanged(self, bind: str) -> None:
        """IPv4, bracketed IPv6, host name and unix socket addresses are passed through as given."""
        assert ServerSettings.from_env({"FIBSVC_BIND": bind}).bind == bind

    @pytest.mark.parametrize("bind", ["nope", "127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:0"])
    def test_invalid_bind_raises_one_line_config_error(self, bind: str) -> None:
        """Missing or out-of-range ports and bare words raise ConfigError naming FIBSVC_BIND."""
        with pytest.raises(ConfigError) as caught:
            ServerSettings.from_env({"FIBSVC_BIND": bind})
        message = str(caught.value)
        assert "\n" not in message
        assert "FIBSVC_BIND" in message
        assert "65535" in message


class TestServerConcurrency:
    """WEB_CONCURRENCY and FIBSVC_THREADS are validated like the FIBSVC_* integers."""

    def test_default_workers_is_twice_usable_cores_plus_one(self) -> None:
        """Without WEB_CONCURRENCY there are 2 x (cores this process may use) + 1 workers."""
        assert ServerSettings.from_env({}).workers == 2 * len(os.sched_getaffinity(0)) + 1

    def test_default_workers_follows_cpu_affinity(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With an affinity of three cores the default is seven workers."""
        monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 2, 5})
        assert ServerSettings.from_env({}).workers == 7

    def test_default_threads_is_four(self) -> None:
        """Without FIBSVC_THREADS each worker has four threads."""
        assert ServerSettings.from_env({}).threads == 4

    @pytest.mark.parametrize(("variable", "field", "minimum", "maximum"), SERVER_VARIABLES)
    def test_valid_value_is_read(self, variable: str, field: str, minimum: int, maximum: int) -> None:
        """The minimum, a middle value and the maximum are read as given."""
        read = [getattr(ServerSettings.from_env({variable: str(v)}), field) for v in (minimum, 3, maximum)]
        assert read == [minimum, 3, maximum]

    @pytest.mark.parametrize(
        ("variable", "minimum", "maximum", "text"),
        [
            (variable, minimum, maximum, text)
            for variable, _, minimum, maximum in SERVER_VARIABLES
            for text in bad_values(minimum, maximum)
        ],
    )
    def test_bad_value_raises_one_line_config_error(
        self, variable: str, minimum: int, maximum: int, text: str
    ) -> None:
        """Bad worker and thread counts raise ConfigError naming the variable and its range."""
        with pytest.raises(ConfigError) as caught:
            ServerSettings.from_env({variable: text})
        assert_one_line_naming(caught.value, variable, minimum, maximum)
