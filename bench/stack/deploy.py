"""The shipped deployment files as a run of them reads them: deploy/production.env.example
as the units' EnvironmentFile= does, and deploy/nginx's site with a run's own addresses,
certificate and paths."""

import re
import secrets
import shutil
import subprocess
from pathlib import Path

from .processes import ROOT

PRODUCTION_ENV = ROOT / "deploy" / "production.env.example"
NGINX_DIR = ROOT / "deploy" / "nginx"


def production_env(*, with_secret: bool = True) -> dict[str, str]:
    """deploy/production.env.example as the units' EnvironmentFile= reads it, plus a
    generated SECRET_KEY (the file ships without one, on purpose)."""
    values = {}
    for line in PRODUCTION_ENV.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    if with_secret:
        values["SECRET_KEY"] = secrets.token_urlsafe(50)
    return values


def nginx_config(
    tmp: Path,
    http_listen: str,
    https_listen: str,
    web_servers: list[str],
    live_server: str,
) -> Path:
    """The shipped site with these listen addresses (`address:port`), one upstream server
    line per web server (`address:port`, as for several web hosts), this live server, a
    self-signed certificate and paths under `tmp`; returns nginx.conf."""
    servers = "\n    ".join(f"server {server};" for server in web_servers)
    (tmp / "snippets").mkdir(parents=True)
    shutil.copy(NGINX_DIR / "analytics-errors.conf", tmp / "snippets")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj"]
        + ["/CN=localhost", "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = (NGINX_DIR / "analytics.conf").read_text()
    for old, new in [
        ("listen 80 default_server;", f"listen {http_listen} default_server;"),
        ("listen 443 ssl default_server;", f"listen {https_listen} ssl default_server;"),
        ("server 127.0.0.1:8000;", servers),
        ("server 127.0.0.1:8001;", f"server {live_server};"),
    ]:
        if site.count(old) != 1:
            raise AssertionError(f"deploy/nginx/analytics.conf no longer says {old!r}")
        site = site.replace(old, new)
    site = re.sub(r"\n\s*listen \[::\]:\d+.*;", "", site)  # no IPv6 needed here
    site = re.sub(r"ssl_certificate /\S+;", f"ssl_certificate {tmp}/cert.pem;", site)
    site = re.sub(r"ssl_certificate_key /\S+;", f"ssl_certificate_key {tmp}/key.pem;", site)
    (tmp / "analytics.conf").write_text(site)
    conf = tmp / "nginx.conf"
    temp = "\n".join(
        f"    {kind}_temp_path {tmp}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf.write_text(
        f"daemon off;\nworker_processes 1;\npid {tmp}/nginx.pid;\n"
        f"error_log {tmp}/error.log info;\nevents {{ worker_connections 1024; }}\n"
        f"http {{\n    include /etc/nginx/mime.types;\n    access_log {tmp}/access.log;\n"
        f"{temp}\n    include analytics.conf;\n}}\n"
    )
    return conf
