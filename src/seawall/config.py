"""One settings object for every shell (API, CLI, workers), read from ``SEAWALL_*`` environment variables.

Keeping configuration in one typed place means an operator can read every knob in the README table
and every component sees the same values.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from seawall.store_location import DEFAULT_DATA_DIR, ENV_PREFIX, effective_url


class Settings(BaseSettings):
    """Runtime configuration. Every field maps to ``SEAWALL_<FIELD_NAME>``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Where SQLite, snapshots and media live.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; defaults to SQLite in data_dir. postgresql+psycopg://… switches to Postgres.",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, description="Largest accepted upload body.")
    max_import_bytes: int = Field(default=4 * 1024**3, description="Largest accepted hash-list import body.")
    max_json_bytes: int = Field(default=16 * 1024 * 1024, description=(
        "Largest accepted JSON body outside imports: a text item is at most 1 MB, so a bigger JSON body is "
        "refused from its Content-Length before any of it is read or parsed."))
    max_image_pixels: int = Field(default=50_000_000, description="Largest accepted image (width × height).")
    pdq_threshold: int = Field(default=31, ge=0, le=128, description="Default PDQ match distance.")
    pdq_min_quality: int = Field(default=50, ge=0, le=100, description="PDQ hashes below this never match.")
    jpeg_draft: bool = Field(default=True, description="Let the JPEG decoder downscale large images first.")
    warm_up: bool = Field(
        default=True,
        description="Load models and compile match kernels at start (/readyz waits for it); off, the node is ready "
                    "at once and the first uploads pay for it.",
    )
    gc_freeze: bool = Field(
        default=True,
        description="After warm-up, keep the start-up heap out of full garbage collections (gc.freeze), which "
                    "otherwise pause every request of the process for 100-300 ms each time they run.",
    )
    api_workers: int = Field(default=1, ge=1, le=64, description="API server processes (each keeps its own index).")
    index_refresh_seconds: float = Field(
        default=0.25, gt=0, le=60, description="How often a server picks up bank entries written by other processes."
    )
    workers: int = Field(default=1, ge=1, le=64, description="Background worker threads (video processing).")
    ocr_enabled: bool | None = Field(
        default=None,
        description="Read text in images with Tesseract for the text signals; unset = on when tesseract is installed.",
    )
    ocr_timeout_seconds: float = Field(default=10, gt=0, le=300,
                                       description="OCR of one image (shrinking included) is stopped after this long.")
    ocr_threads: int = Field(default=1, ge=1, le=64,
                             description="Threads one Tesseract run may use (OMP_THREAD_LIMIT); 1 suits busy servers.")
    ocr_niceness: int = Field(default=10, ge=0, le=19,
                              description="Niceness of Tesseract processes: OCR yields the CPU to in-request verdicts.")
    stage2_processes: bool = Field(
        default=True,
        description="Run stage 2's OCR, region hashes and ORB points in worker processes (one per worker thread) "
                    "instead of the serving process's threads, so they never hold its GIL.",
    )
    stage2_niceness: int = Field(default=19, ge=0, le=19,
                                 description="Niceness of the stage-2 worker processes (and the Tesseract runs "
                                             "they start): stage 2 takes the CPU stage 1 leaves.")
    stage2_sched_idle: bool = Field(
        default=True,
        description="Run the stage-2 worker processes (and their Tesseract runs) under Linux's SCHED_IDLE "
                    "policy where available: they get only CPU nothing else wants and yield it at once to "
                    "in-request verdicts; the niceness above is the fallback.")
    sqlite_checkpoint_ms: int = Field(
        default=200, ge=0, le=60_000,
        description="SQLite stores: serving processes checkpoint the write-ahead log in a background thread this "
                    "often instead of inside whichever commit passes 4 MiB of log (an upload's request); "
                    "0 = SQLite's own checkpoints in the commits.")
    stage2_spool: Literal["auto", "files", "store"] = Field(
        default="auto",
        description="Where uploads waiting for stage 2 keep their bytes: files (a spool directory in data_dir, "
                    "cheapest) or store (the item_uploads table, readable by every node). auto: files for a "
                    "SQLite store without NATS (one node runs stage 2), store otherwise (PostgreSQL nodes or "
                    "JetStream workers may run stage 2 on another machine).")
    stage2_spool_fsync: bool = Field(
        default=False,
        description="Sync each stage-2 spool file (and its directory) before the upload commits. Off by default "
                    "like SQLite's synchronous=NORMAL commits, which are not synced either; a process crash loses "
                    "neither.")
    stage2_max_backlog: int = Field(
        default=1000, ge=0,
        description="Jobs the work queue may hold before stage 2 is shed: an image arriving while that many "
                    "wait gets its stage-1 verdict as final, with a reason saying OCR and region hashes were skipped "
                    "(seawall_stage2_skipped_total); 0 = no limit.",
    )
    stage2_wait: str = Field(
        default="", pattern=r"^([a-z]+(,[a-z]+)*)?$",
        description="Content types (comma-separated, e.g. image) whose uploads wait for stage 2 unless the "
                    "request says otherwise; empty = answer after stage 1.",
    )
    stage2_wait_timeout_ms: int = Field(
        default=2000, ge=0, le=60_000, description="Longest wait for stage 2 when an upload asks for a final verdict.",
    )
    ocr_max_side: int = Field(default=2000, ge=100, le=10000, description="Images are shrunk to this side for OCR.")
    ocr_languages: str = Field(
        default="eng+ara", pattern=r"^[A-Za-z_]+(\+[A-Za-z_]+)*$", description="Tesseract language packs to read with."
    )
    log_level: str = "info"
    crisis_mode: bool = Field(
        default=False, description="Crisis mode for the rules (also switchable at run time via /v1/rules/crisis-mode)."
    )
    strike_expiry_days: float = Field(default=90, gt=0, description="A strike counts for this many days.")
    strikes_for_temporary_suspension: int = Field(
        default=3, ge=1, description="Active strikes that suspend an account temporarily."
    )
    strikes_for_permanent_suspension: int = Field(
        default=5, ge=1, description="Active strikes that suspend an account for good."
    )
    suspension_days: float = Field(default=7, gt=0, description="Length of a temporary suspension.")
    reappearance_threshold: float = Field(
        default=0.7, gt=0, le=1,
        description="Re-appearance score (0–1) from which a new account resembling a suspended one is flagged.",
    )
    reappearance_new_account_days: float = Field(
        default=30, ge=0,
        description="Uploads of accounts first seen within this many days are screened against suspended accounts.",
    )
    reappearance_upload_checks: int = Field(
        default=20, ge=0,
        description="Screen a new account's uploads while it has at most this many items (0 = only profiles).",
    )
    group_commit_max_batch: int = Field(
        default=32, ge=1, le=1000,
        description="Uploads stored together in one transaction at most (1 = one transaction per upload).",
    )
    group_commit_max_wait_ms: float = Field(
        default=2.0, ge=0, le=100,
        description="Longest an upload's write waits for concurrent uploads to share its commit.",
    )
    retro_window_days: float = Field(
        default=180, ge=0,
        description="Items received within this many days are matched against bank entries added later (0 = off).",
    )
    retro_hold_forms: bool = Field(
        default=True,
        description="The leading process holds past image uploads' PDQ forms in memory between retro passes "
                    "(~2.5 GB per million uploads in the window; a pass is then lookups, not a scan).",
    )
    retro_interval_seconds: float = Field(
        default=10, gt=0, le=3600, description="How often new bank entries are looked for to match past items.",
    )
    webhook_allow_hosts: str = Field(
        default="",
        description="Comma-separated host names, IPs or CIDRs webhooks may reach although they are private.",
    )
    webhook_timeout_seconds: float = Field(default=10, gt=0, le=120, description="Per webhook delivery attempt.")
    webhook_max_attempts: int = Field(default=8, ge=1, le=100, description="Attempts before dead-lettering.")
    webhook_retry_base_seconds: float = Field(default=10, gt=0, description="First retry delay; doubles each time.")
    webhook_retry_max_seconds: float = Field(default=3600, gt=0, description="Longest delay between retries.")
    webhook_poll_seconds: float = Field(default=0.5, gt=0, le=60, description="How often the sender looks for work.")
    nats_url: str | None = Field(
        default=None,
        description="NATS JetStream server(s), e.g. nats://127.0.0.1:4222; unset = the embedded in-process queue.",
    )
    nats_prefix: str = Field(
        default="seawall", pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Prefix of every stream, consumer and subject, so several deployments share one server.",
    )
    nats_max_deliveries: int = Field(
        default=5, ge=1, le=1000, description="Deliveries of one job before it is dead-lettered and its item failed.",
    )
    nats_ack_wait_seconds: float = Field(
        default=30, gt=0, le=3600,
        description="A job whose worker went silent this long (crashed) is delivered to another worker.",
    )
    nats_sweep_seconds: float = Field(
        default=10, gt=0, le=3600,
        description="How often workers re-queue pending items that never reached the queue (broker was down).",
    )
    nats_reconnect_max_seconds: float = Field(
        default=5, gt=0, le=300,
        description="Longest wait between tries while NATS is unreachable at start (0.5 s, doubling up to this).",
    )
    queue_max_depth: int = Field(
        default=100_000, ge=1, description="Deferred uploads are refused (503 queue_full) beyond this many jobs.",
    )
    queue_offline_max_pending: int = Field(
        default=1_000, ge=0,
        description="While NATS is unreachable, deferred uploads wait in the store as pending up to this many "
                    "items (all nodes together); beyond, they are refused with 503 queue_unavailable.",
    )
    queue_degraded_depth: int = Field(
        default=1_000, ge=1, description="/healthz reports 'degraded' while more jobs than this wait.",
    )
    api_only: bool = Field(
        default=False, description="Serve the API and enqueue background work, but leave it to `seawall worker`.",
    )
    rate_limit_key_per_second: float = Field(
        default=0, ge=0,
        description="API requests one key may make per second and process (0 = unlimited; set it a little above "
                    "the platform's peak so a stolen or runaway key cannot starve others).",
    )
    rate_limit_key_burst: int = Field(default=1000, ge=1, description="Requests one key may make at once.")
    rate_limit_address_per_second: float = Field(
        default=0, ge=0,
        description="API requests one client address may make per second and process (0 = unlimited).",
    )
    rate_limit_address_burst: int = Field(default=2000, ge=1, description="API requests one address may make at once.")
    auth_failures_per_second: float = Field(
        default=1, ge=0,
        description="Invalid API keys one address may present per second once its burst is spent (0 = unlimited).",
    )
    auth_failures_burst: int = Field(default=50, ge=1, description="Invalid API keys one address may present at once.")
    login_rate_per_minute: float = Field(
        default=30, ge=0, description="Console sign-in attempts one address may make per minute (0 = unlimited).",
    )
    login_rate_burst: int = Field(default=30, ge=1,
                                  description="Console sign-in attempts one address may make at once.")
    second_review_share: float = Field(
        default=0.05, ge=0, le=1,
        description="Share of reviewer decisions sampled for a blind second review (agreement on the dashboard).",
    )
    login_free_failures: int = Field(
        default=5, ge=1, description="Failed sign-ins (per address, and per account) before back-off starts.",
    )
    reveal_daily_cap: int = Field(
        default=60, ge=1, description="Originals one reviewer may reveal in a day (UTC); at the cap the console "
                                      "refuses and says why.",
    )
    reveal_break_every: int = Field(
        default=15, ge=1, description="Every this many reveals in a day, the console asks the reviewer to take a "
                                      "break before the next.",
    )
    login_backoff_max_seconds: float = Field(
        default=900, gt=0, description="Longest back-off after failed sign-ins (it doubles with every failure).",
    )
    api_key_recheck_seconds: float = Field(
        default=1.0, gt=0, le=3600,
        description="A verified API key's revocation flag is re-read after this long, so a key revoked in "
                    "another process stops working within it.",
    )
    api_key_cache_size: int = Field(default=10_000, ge=1, description="Verified API keys remembered per process.")
    header_read_timeout_seconds: float = Field(
        default=10, gt=0, le=600,
        description="A connection that has not sent complete request headers by then is closed.",
    )
    body_read_timeout_seconds: float = Field(
        default=30, gt=0, le=3600, description="A request body that stalls this long between chunks is refused (408).",
    )
    source_sync: bool = Field(
        default=True, description="Sync enabled sources (hash-sharing exchanges) in the background on this node.",
    )
    source_sync_group_entries: int = Field(
        default=100_000, ge=1, le=1_000_000,
        description="Entries of consecutive feed pages written in one transaction at most (fewer, shorter writes "
                    "on SQLite, where uploads wait for them; more, fewer passes over a large bank's index).",
    )
    source_live_wait_seconds: float = Field(
        default=20, gt=0, le=60, description="How long a live source (Seawall feed) holds one long poll open.",
    )
    plugins: str = Field(
        default="",
        description="Comma-separated module:function hooks called with the registry, besides the entry points.",
    )
    plugins_degraded: bool = Field(
        default=False,
        description="Start without a plugin that fails to load (and report 'degraded' in /healthz) instead of "
                    "refusing to start. Off by default: a missing matcher is lost coverage.",
    )

    @property
    def webhook_allow_list(self) -> list[str]:
        """The operator's SSRF exceptions, one host name, address or CIDR each."""
        return [h.strip() for h in self.webhook_allow_hosts.split(",") if h.strip()]

    @property
    def effective_database_url(self) -> str:
        """The configured database, or a SQLite file inside ``data_dir``."""
        return effective_url(self.data_dir, self.database_url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return Settings()
