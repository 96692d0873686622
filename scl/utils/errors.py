"""Errors whose message names the problem and the fix, and how the command-line tools report them."""
import gc
import os
import sys


class UserError(Exception):
    """Base of the errors a user can fix from the message alone (a missing install, bad data, a wrong option).

    The tools print such an error as one line and exit with status 2 (:func:`run_main`); ``SCL_DEBUG=1`` shows the
    traceback instead.
    """


class ConfigError(UserError, ValueError):
    """A config value that cannot work (a bad option, a queue that does not fit the batch)."""


class DataError(UserError, FileNotFoundError):
    """Data that is missing or unusable (a data root that does not exist, no images, a missing source)."""


class NotACheckpointError(UserError, ValueError):
    """A file given as a checkpoint that is not one torch can read."""


def run_main(main, *args, **kwargs):
    """Call a tool's ``main``; a :class:`UserError` becomes ``error: <message>`` on stderr, as the last line, and exit
    status 2 (``SCL_DEBUG=1`` in the environment re-raises it with its traceback)."""
    try:
        return main(*args, **kwargs)
    except UserError as e:
        if os.environ.get('SCL_DEBUG', '0') not in ('', '0'):
            raise
        # The last line of the message: errors re-raised from a dataloader worker carry the worker's traceback first.
        message = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
    # Out of the except block the traceback's frames are free: collecting them shuts the dataloader workers down
    # now, so that nothing they print comes after the message.
    gc.collect()
    sys.stdout.flush()
    print(f'error: {message} (SCL_DEBUG=1 shows the traceback)', file=sys.stderr, flush=True)
    sys.exit(2)
