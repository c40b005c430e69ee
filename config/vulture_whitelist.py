"""Names vulture (`make lint`) would call unused that frameworks or tests use. Not imported.

Each line names where the use is, so a name that becomes really unused can be dropped here.
"""

# ruff: noqa: B018, F821
# Read by gunicorn from config/gunicorn.py.
worker_class, worker_connections, keepalive, control_socket_disable  # gunicorn settings
accesslog, access_log_format, post_request, post_worker_init, req, worker  # settings, hooks
# Parsed from the aggregator's form and the directory file, shown in errors and tests.
mahallas, units
# RQ job and worker attributes set for RQ to read.
retries_left, retry_intervals, _horse_pid, ended_at, base_url
# The named job functions (gateway/jobs.py FUNCTIONS: strings RQ resolves).
send_message, send_digest, expire_receipt, FUNCTIONS
# Used by tests, bench and the simulator's test helpers.
free_port, trail
# Flask routes and handlers registered by decorator on a blueprint variable.
_headers, _bad_input, _refused, ussd, fast_forward, metrics, healthz, _channel_error
# Read by the console's templates.
referred_out, recipients
