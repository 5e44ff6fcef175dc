"""Webhook targets: only http(s) without credentials; production refuses the server's own networks (SSRF)."""

from __future__ import annotations

import pytest

from spendpilot.alerts.messages import sign, slack_body
from spendpilot.alerts.targets import TargetRefused, check_reachable, check_syntax, shown_url


@pytest.mark.parametrize("url", ["ftp://example.com/x", "example.com/hook", "http:///nohost", "javascript:alert(1)",
                                 "http://user:pw@example.com/x", "https://example.com:99999/x",
                                 "https://example.com/" + "a" * 3000])
def test_urls_that_are_never_targets(url):
    with pytest.raises(TargetRefused):
        check_syntax(url)


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://app.localhost/x", "http://10.1.2.3/x",
    "http://192.168.0.10/x", "http://172.16.5.4/x", "http://169.254.169.254/latest/meta-data",
    "http://[::1]/x", "http://[fd00::1]/x", "http://[::ffff:127.0.0.1]/x", "http://0.0.0.0/x",
    "http://100.64.0.1/x",
])
async def test_private_loopback_and_metadata_targets_are_refused_unless_allowed(url):
    with pytest.raises(TargetRefused):
        await check_reachable(check_syntax(url), allow_private=False)
    await check_reachable(check_syntax(url), allow_private=True)


async def test_a_public_address_is_allowed_and_an_unresolvable_name_is_refused():
    await check_reachable("https://93.184.215.14/hook", allow_private=False)
    with pytest.raises(TargetRefused, match="cannot be resolved"):
        await check_reachable("https://no-such-host.invalid/hook", allow_private=False)


def test_a_slack_url_is_a_credential_and_is_shown_only_to_its_host():
    url = "https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXX"
    assert "XXXX" not in shown_url(url, "slack") and shown_url(url, "slack").startswith("https://hooks.slack.com/")
    assert shown_url("https://example.com/hook?x=1", "webhook") == "https://example.com/hook?x=1"


def test_signature_is_hmac_sha256_of_the_exact_body():
    # Known answer, computed independently: printf '{"a":1}' | openssl dgst -sha256 -hmac secret
    assert sign(b'{"a":1}', "secret") == "sha256=aa9e2e3575f5d7098b6caccd790888c36d5fdb63342a73bada2d6a51747a8494"
    assert sign(b'{"a":1}', "secret") != sign(b'{"a": 1}', "secret")


def test_slack_text_names_the_budget_the_threshold_and_the_figures():
    body = {"type": "budget.threshold_crossed", "threshold": 80, "spent_usd": 812.5, "forecast_usd": None,
            "period": {"month": "2026-11"}, "budget": {"name": "Support", "amount_usd": 1000}}
    text = slack_body(body)["text"]
    assert "Support" in text and "80%" in text and "$812.50" in text and "$1,000.00" in text
    anomaly = {"type": "spend.anomaly", "day": "2026-11-20", "scope": {"feature": "rag"}, "spent_usd": 40.0,
               "baseline_usd": 10.0, "ratio": 4.0}
    assert "feature rag" in slack_body(anomaly)["text"] and "4.0x" in slack_body(anomaly)["text"]
