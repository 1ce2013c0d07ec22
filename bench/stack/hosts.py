"""Hosts simulated on this machine: one network namespace each, on a private bridge.

Each host has its own loopback, its own eth0 with an address in a free 10.x.y.0/24, and its
own ports, so every web host listens on :8000 as on real machines. The bridge lives in
this machine's own namespace with the subnet's .1, so the process that made the
network (the bench or the test: the clients' machine) reaches every host directly.
Nothing is routed or forwarded anywhere: the traffic never leaves the bridge.

A host is lost the way a machine is lost: its link goes down first, every process in it
is killed with SIGKILL, then its namespace is deleted with its kernel's sockets, so
nothing it had open is ever closed properly: its peers find out by their own timeouts,
as after a power cut. `back()` makes it anew (same name, same address, nothing
running); the caller starts its processes again.
"""

import os
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field

from .processes import StackError


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise StackError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def namespaces_usable() -> str | None:
    """Why hosts cannot be simulated here, or None when they can (root and iproute2)."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    try:
        _ip("netns", "list")
    except (OSError, StackError) as exc:
        return f"iproute2's `ip netns` does not work here: {exc}"
    return None


@dataclass
class Host:
    name: str
    namespace: str
    address: str
    _network: "Network" = field(repr=False)

    def argv(self, args: list[str]) -> list[str]:
        """`args` run inside this host."""
        return ["ip", "netns", "exec", self.namespace, *args]

    @property
    def veth(self) -> str:
        """The bridge's end of the host's link, on this machine."""
        return f"{self._network.bridge}h{self.address.rsplit('.', 1)[1]}"

    def pids(self) -> list[int]:
        done = _ip("netns", "pids", self.namespace, check=False)
        return [int(pid) for pid in done.stdout.split()]

    def down(self) -> None:
        """The host's link down: packets to and from it are lost, nothing is reset."""
        _ip("-n", self.namespace, "link", "set", "eth0", "down")

    def up(self) -> None:
        _ip("-n", self.namespace, "link", "set", "eth0", "up")

    def back(self) -> None:
        """The lost host anew: its namespace, link and address, nothing running."""
        self._network.attach(self)

    def lose(self) -> float:
        """The machine lost: link down, SIGKILL to every process in it until none is left,
        the namespace deleted; returns the seconds it took."""
        started = time.monotonic()
        self.down()
        deadline = started + 10
        while pids := self.pids():
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            if time.monotonic() > deadline:
                raise StackError(f"{self.name}: processes {pids} survived SIGKILL")
            time.sleep(0.05)
        _ip("link", "del", self.veth)  # both ends, at once (a namespace goes lazily)
        _ip("netns", "del", self.namespace)  # and its kernel's sockets with it
        return time.monotonic() - started


class Network:
    """A bridge and its hosts; `close()` removes both, and kills what is left in them."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(2)
        self.bridge = f"mh{self.tag}"
        self.subnet = self._free_subnet()
        self.gateway = f"{self.subnet}.1"
        self.hosts: dict[str, Host] = {}
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    @staticmethod
    def _free_subnet() -> str:
        routes = _ip("-4", "route", "show").stdout
        for _ in range(100):
            subnet = f"10.{secrets.randbelow(200) + 40}.{secrets.randbelow(250) + 1}"
            if f"{subnet}." not in routes:
                return subnet
        raise StackError("no free 10.x.y.0/24 subnet for the simulated hosts")

    def add(self, name: str) -> Host:
        index = len(self.hosts) + 10
        host = Host(name, f"mh-{self.tag}-{name}", f"{self.subnet}.{index}", self)
        self.hosts[name] = host  # from here on close() removes it
        self.attach(host)
        return host

    def attach(self, host: Host) -> None:
        """The host's namespace, its eth0 on the bridge with its address, and loopback."""
        veth = host.veth
        _ip("netns", "add", host.namespace)
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", host.namespace)
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("-n", host.namespace, "addr", "add", f"{host.address}/24", "dev", "eth0")
        _ip("-n", host.namespace, "link", "set", "lo", "up")
        host.up()

    def close(self) -> None:
        existing = _ip("netns", "list", check=False).stdout
        for host in self.hosts.values():
            if host.namespace not in existing:
                continue  # lost, not brought back
            try:
                host.lose()
            except StackError:
                _ip("link", "del", host.veth, check=False)
                _ip("netns", "del", host.namespace, check=False)
        self.hosts.clear()
        _ip("link", "del", self.bridge, check=False)
