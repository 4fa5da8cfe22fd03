"""Where the C++ core's log lines go: the ``cairn`` logger of Python's ``logging``."""
import logging

logger = logging.getLogger("cairn")


def log(level: str, message: str) -> None:
    if level == "warning":
        logger.warning(message)
    else:
        logger.info(message)
