"""Benchmarks of fibsvc as it is deployed: the real gunicorn, the real gunicorn.conf.py."""
