"""ubm_platform: the user behaviour metric data platform (Dagster assets)."""

import warnings

# Single-run backfills and freshness policies are marked beta/preview in Dagster 1.13; we rely on
# them knowingly, so their warnings would only bury the platform's own messages.
warnings.filterwarnings("ignore", message=r".*is currently in (beta|preview).*")
