"""gunicorn settings for pieced-admin (`gunicorn --config gunicorn.conf.py wsgi:app`).

Threads rather than many processes: pages mostly wait on PostgreSQL, and a
billing run started from the browser lives in a thread of the worker that took
the request. Workers are never recycled after N requests, so such a run is not
cut off; a rollout does stop it (it is marked interrupted and a re-run, or the
CronJob, finishes what is missing).
"""

import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A request may render an invoice preview PDF (about a second); 60 s is a hung worker.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
max_requests = 0
# Behind the Kubernetes Service / ingress: trust X-Forwarded-* only from the proxies named in
# FORWARDED_ALLOW_IPS (addresses or CIDR networks, comma-separated; web.yaml sets the pod network).
# Never "*" by default: any client reaching the pod could then claim https or another address.
# Absolute URLs (the OIDC callback, links) come from PUBLIC_URL, never from the Host header.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# Temporary files of request bodies and the worker heartbeat: /tmp is the writable emptyDir.
worker_tmp_dir = "/tmp"
