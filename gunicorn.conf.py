"""gunicorn settings for production: `gunicorn -c gunicorn.conf.py 'portal:create_app()'`.

Every value can be overridden from the environment (GUNICORN_* below, or gunicorn's own
`GUNICORN_CMD_ARGS`).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", f"127.0.0.1:{os.environ.get('PORT', '8000')}")
# The usual (2 x cores) + 1, capped: each worker holds its own search searcher and matcher.
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 8)))
threads = int(os.environ.get("GUNICORN_THREADS", 2))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 60))  # a draft PDF check may take seconds
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 30))
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 2000))  # bounds slow leaks
max_requests_jitter = 200
# Not preloaded: each worker opens its own database pool and index handles after the fork.
preload_app = False
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms rid=%({x-request-id}o)s'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    """The worker has loaded the app: what that made (the modules, the app, its config; about
    200,000 objects) lives as long as the worker. Frozen (`gc.freeze`), the cyclic garbage
    collector's full collections no longer walk them again: at 42k bids one took 150 ms, in
    whichever request was unlucky (1 in 40 of a funder's profile pages). Garbage is collected
    first, so nothing dead is kept."""
    import gc

    gc.collect()
    gc.freeze()
