"""Errors of the wire contract, split by what the caller should do about them."""


class PesError(Exception):
    """Base of every error this project raises on purpose."""


class RetryableError(PesError):
    """A transient condition (network, broker, busy database): try again later."""


class PermanentError(PesError):
    """Retrying will not help: the input or the configuration is wrong."""


class InvalidPayload(PermanentError):
    """A message that cannot be decoded or violates the contract. `reason` is a short code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class InvalidTopic(InvalidPayload):
    def __init__(self, detail: str) -> None:
        super().__init__("bad_topic", detail)


class ConfigError(PermanentError):
    """Settings that cannot work; the message says which key and why."""


class BrokerUnavailable(RetryableError):
    """The MQTT broker cannot be reached or refused the connection for a transient reason."""


class BrokerRefused(PermanentError):
    """The broker refused us for a reason retrying will not fix (bad credentials, no access)."""


class PublishFailed(RetryableError):
    """A publish was not accepted (disconnected, queue full); the data is still buffered."""
