"""Taking an answer out of the app: exports of threads and reports, and read-only share links."""
