"""Development infrastructure shared by tests, bench and the demo: not part of the shipped
wheel. `LocalBroker` runs a private Mosquitto on a free loopback port."""

from devkit.broker import BrokerSecurity, LocalBroker, find_mosquitto, free_port

__all__ = ["BrokerSecurity", "LocalBroker", "find_mosquitto", "free_port"]
