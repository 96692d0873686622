"""Errors whose message names the problem and the fix, and how the command-line tools report them."""
import os
import sys


class UserError(Exception):
    """Base of the errors a user can fix from the message alone (a missing install, bad data, a wrong option).

    The tools print such an error as one line and exit with status 2 (:func:`run_main`); ``SCL_DEBUG=1`` shows the
    traceback instead.
    """


def run_main(main, *args, **kwargs):
    """Call a tool's ``main``; a :class:`UserError` becomes ``error: <message>`` on stderr, as the last line, and exit
    status 2 (``SCL_DEBUG=1`` in the environment re-raises it with its traceback)."""
    try:
        return main(*args, **kwargs)
    except UserError as e:
        if os.environ.get('SCL_DEBUG', '0') not in ('', '0'):
            raise
        print(f'error: {e} (SCL_DEBUG=1 shows the traceback)', file=sys.stderr)
        sys.exit(2)
