"""LLM spend per tenant from the LiteLLM proxy.

LiteLLM buckets spend by UTC day; a month is asked for as its first to last
day, both inclusive. The aggregated endpoint answers in one call; proxies
that predate it answer 404 there, and the paginated endpoint is summed
instead. Any failure raises :class:`LiteLLMError`: usage is never silently
taken as zero.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import Retrying, before_sleep_log, retry_if_exception, stop_after_attempt, wait_exponential

__all__ = ["LiteLLMClient", "LiteLLMError", "TEAM_ID_LABEL", "team_id_for"]

log = logging.getLogger(__name__)

TEAM_ID_LABEL = "pieced.ch/litellm-team-id"

AGGREGATED_PATH = "/team/daily/activity/aggregated"
PAGINATED_PATH = "/team/daily/activity"



class LiteLLMError(Exception):
    """LiteLLM could not give the spend; the message says what failed and what to do."""

    def __init__(self, message: str, *, status: int | None = None):
        super().__init__(message)
        self.status = status


class _Retryable(Exception):
    """A 429 or 5xx answer, worth another try."""

    def __init__(self, status: int, url: str, excerpt: str):
        super().__init__(f"HTTP {status} from {url}: {excerpt}" if excerpt else f"HTTP {status} from {url}")
        self.status = status


class _EndpointMissing(Exception):
    pass


def team_id_for(tenant_name: str, labels: Mapping[str, str] | None) -> str:
    """The LiteLLM team of a tenant: its ``pieced.ch/litellm-team-id`` label, else its name."""
    override = (labels or {}).get(TEAM_ID_LABEL)
    if override and override.strip():
        return override.strip()
    return tenant_name


def _usd(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise LiteLLMError(f"LiteLLM answered {where} = {value!r}, which is not a number: check the LiteLLM proxy version")
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:  # pragma: no cover - str() of a number always parses
        raise LiteLLMError(f"LiteLLM answered {where} = {value!r}, which is not a number") from exc
    if not amount.is_finite():
        raise LiteLLMError(f"LiteLLM answered {where} = {value!r}, which is not a finite amount")
    return amount


def _excerpt(response: requests.Response, limit: int = 200) -> str:
    text = (response.text or "").strip().replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "")


# Worth another try: the proxy is busy, restarting, or the connection broke.
_TRANSIENT = (_Retryable, requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, _TRANSIENT)


class LiteLLMClient:
    """Reads team spend from a LiteLLM proxy (``LITELLM_URL``, ``LITELLM_API_KEY``).

    ``retries`` is the number of further attempts after a connection error,
    a timeout, a 429 or a 5xx; waits grow from ``backoff`` seconds, doubling.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        session: requests.Session | None = None,
        page_size: int = 100,
        max_pages: int = 1000,
    ):
        if not base_url:
            raise LiteLLMError("LiteLLM URL is empty: set LITELLM_URL")
        if not api_key:
            raise LiteLLMError("LiteLLM API key is empty: set LITELLM_API_KEY")
        self.base_url = base_url.rstrip("/")
        self.host = urlsplit(self.base_url).netloc or self.base_url
        self._api_key = api_key
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self.page_size = page_size
        self.max_pages = max_pages
        self._own_session = session is None
        self.session = session or requests.Session()

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> "LiteLLMClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never shows the key
        return f"LiteLLMClient({self.base_url!r})"

    # -- public --

    def team_spend(self, team_id: str, start: date, end: date) -> Decimal:
        """Spend in USD of one team over [start, end] inclusive UTC days."""
        if end < start:
            raise ValueError(f"end {end} is before start {start}")
        if not team_id or not team_id.strip() or "," in team_id:
            # An empty team_ids means every team to LiteLLM, and a comma means several.
            raise LiteLLMError(f"LiteLLM team id {team_id!r} is not a single team: check the tenant name or its {TEAM_ID_LABEL} label")
        params = {"team_ids": team_id, "start_date": start.isoformat(), "end_date": end.isoformat()}
        try:
            body = self._get(AGGREGATED_PATH, params)
        except _EndpointMissing:
            log.info("LiteLLM at %s has no %s; summing %s pages", self.host, AGGREGATED_PATH, PAGINATED_PATH)
            return self._paginated_spend(params)
        metadata = body.get("metadata")
        if not isinstance(metadata, dict) or "total_spend" not in metadata:
            raise LiteLLMError(
                f"LiteLLM answered {AGGREGATED_PATH} without metadata.total_spend for team {team_id!r}: "
                "check that LITELLM_URL points at a LiteLLM proxy"
            )
        # Exactly as LiteLLM reports it: the invoice line rounds once (SPEC §3, `llm`).
        return _usd(metadata["total_spend"], "metadata.total_spend")

    def spend_for_teams(self, team_ids: Iterable[str], start: date, end: date) -> dict[str, Decimal]:
        """Spend per team, in the order given (each team asked once)."""
        spend: dict[str, Decimal] = {}
        for team_id in team_ids:
            if team_id not in spend:
                spend[team_id] = self.team_spend(team_id, start, end)
        return spend

    # -- internals --

    def _paginated_spend(self, params: dict[str, str]) -> Decimal:
        total = Decimal(0)
        for page in range(1, self.max_pages + 1):
            try:
                body = self._get(PAGINATED_PATH, {**params, "page": str(page), "page_size": str(self.page_size)})
            except _EndpointMissing:
                raise LiteLLMError(
                    f"LiteLLM at {self.host} has neither {AGGREGATED_PATH} nor {PAGINATED_PATH} (HTTP 404): "
                    "check that LITELLM_URL points at a LiteLLM proxy",
                    status=404,
                ) from None
            results = body.get("results")
            metadata = body.get("metadata")
            if not isinstance(results, list) or not isinstance(metadata, dict):
                raise LiteLLMError(
                    f"LiteLLM answered {PAGINATED_PATH} page {page} without results and metadata: "
                    "check that LITELLM_URL points at a LiteLLM proxy"
                )
            for index, entry in enumerate(results):
                metrics = entry.get("metrics") if isinstance(entry, dict) else None
                if not isinstance(metrics, dict) or "spend" not in metrics:
                    raise LiteLLMError(f"LiteLLM answered {PAGINATED_PATH} page {page} with result {index} missing metrics.spend")
                total += _usd(metrics["spend"], f"results[{index}].metrics.spend")
            if "has_more" in metadata:
                more = metadata["has_more"] is True
            else:
                total_pages = metadata.get("total_pages")
                more = isinstance(total_pages, int) and page < total_pages
            if not more:
                return total
        raise LiteLLMError(
            f"LiteLLM at {self.host} still reported more pages of {PAGINATED_PATH} after {self.max_pages} pages: "
            "refusing an unbounded answer; check the LiteLLM proxy"
        )

    def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        url = self.base_url + path
        retrying = Retrying(
            retry=retry_if_exception(_is_transient),
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential(multiplier=self.backoff, max=30),
            before_sleep=before_sleep_log(log, logging.WARNING),
            reraise=True,
        )
        try:
            response = retrying(self._get_once, url, params)
        except _TRANSIENT as exc:
            attempts = self.retries + 1
            raise LiteLLMError(
                f"LiteLLM at {self.host} did not answer {path} after {attempts} attempt(s); last error: {exc}. "
                "Check that LITELLM_URL is reachable and the proxy is healthy, then retry",
                status=getattr(exc, "status", None),
            ) from exc
        except (requests.RequestException, OSError) as exc:
            # A socket error that requests does not wrap is still LiteLLM failing: name it.
            raise LiteLLMError(f"LiteLLM request to {self.host}{path} could not be made: {exc}. Check LITELLM_URL") from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise LiteLLMError(
                f"LiteLLM at {self.host} answered {path} with something other than JSON: {_excerpt(response)!r}; "
                "check that LITELLM_URL points at a LiteLLM proxy"
            ) from exc
        if not isinstance(body, dict):
            raise LiteLLMError(f"LiteLLM at {self.host} answered {path} with unexpected JSON: {_excerpt(response)!r}")
        return body

    def _get_once(self, url: str, params: dict[str, str]) -> requests.Response:
        response = self.session.get(
            url,
            params=params,
            headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"},
            timeout=self.timeout,
        )
        status = response.status_code
        if status in (401, 403):
            raise LiteLLMError(f"LiteLLM rejected the API key (HTTP {status}): check LITELLM_API_KEY", status=status)
        if status == 404:
            raise _EndpointMissing(url)
        if status == 429 or status >= 500:
            raise _Retryable(status, url, _excerpt(response))
        if status >= 400:
            raise LiteLLMError(
                f"LiteLLM refused the spend query (HTTP {status}) at {self.host}: {_excerpt(response)}; "
                "check the LiteLLM proxy version and the team id",
                status=status,
            )
        return response
