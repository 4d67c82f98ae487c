"""The secrets of a store's server address (password, sslpassword, options) are found and
masked in every form libpq accepts: userinfo, query parameters, percent-encoding and
``key=value`` connection strings."""

from __future__ import annotations

from urllib.parse import quote, quote_plus

from hypothesis import given
from hypothesis import strategies as st
from tradekernel.settings import Settings
from tradekernel.store_url import MASK, mask_store_url, store_url_secrets

SECRET = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    min_size=1,
    max_size=20,
).map(lambda s: "Zq9" + s)
KEYS = st.sampled_from(["password", "sslpassword", "options", "PASSWORD", "SslPassword"])


def _url_forms(secret: str, key: str) -> list[str]:
    base = "postgresql://agent@db.example:5432/tk"
    return [
        f"postgresql://agent:{quote(secret, safe='')}@db.example:5432/tk?sslmode=require",
        f"{base}?{key}={quote(secret, safe='')}&sslmode=require",
        f"{base}?sslmode=require&{key}={quote_plus(secret)}",
        f"{base}?{quote(key)}={quote(secret, safe='')}#frag",
        f"postgres://agent@/tk?host=/run/pg&{key}={quote(secret, safe='')}",
    ]


def _conninfo(secret: str, key: str) -> str:
    escaped = secret.replace("\\", "\\\\").replace("'", "\\'")
    return f"host=db.example dbname=tk {key}='{escaped}' user=agent"


@given(SECRET, KEYS)
def test_every_url_form_masks_the_secret(secret, key):
    for url in _url_forms(secret, key):
        shown = mask_store_url(url)
        for form in (secret, quote(secret, safe=""), quote_plus(secret)):
            assert form not in shown, (url, shown)
        assert MASK in shown
        assert secret in store_url_secrets(url)


@given(SECRET, KEYS)
def test_a_conninfo_string_masks_the_secret(secret, key):
    text = _conninfo(secret, key)
    shown = mask_store_url(text)
    assert secret not in shown and MASK in shown and "dbname=tk" in shown
    assert secret in store_url_secrets(text)


@given(SECRET.filter(lambda s: s.isprintable()))
def test_settings_redact_every_secret_of_the_store_url(secret):
    """TK_STORE_URL's sslpassword and options reach the redactor (not only the password)."""
    url = (
        f"postgresql://agent@db/tk?sslpassword={quote(secret, safe='')}"
        f"&options={quote('-c app.key=' + secret, safe='')}"
    )
    settings = Settings.load(environ={"TK_STORE_URL": url})
    assert settings.store.url == url
    assert secret not in settings.redact(f"connecting to {url}: failed for {secret}")


def test_the_rest_of_the_address_stays_readable():
    shown = mask_store_url(
        "postgresql://agent:pw1234567@db:5432/tk?sslpassword=k3y&sslmode=verify-full"
    )
    assert shown == (f"postgresql://agent:{MASK}@db:5432/tk?sslpassword={MASK}&sslmode=verify-full")
    assert store_url_secrets("postgresql://agent@db/tk") == []
    assert store_url_secrets(None) == []
