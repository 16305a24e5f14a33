"""Put on a child's ``PYTHONPATH`` by the model-trust tests: records every ``pickle.find_class`` (every
class or function an unpickler looks up, which any pickle that runs code needs) in the file named by
``PICKLE_AUDIT_LOG``, with the first line saying the hook is installed in this process."""

import os
import sys

_LOG = os.environ.get("PICKLE_AUDIT_LOG")

if _LOG:
    with open(_LOG, "a", encoding="utf-8") as _out:
        _out.write(f"installed in pid {os.getpid()}\n")

    def _audit(event: str, args: tuple[object, ...]) -> None:
        if event == "pickle.find_class" and _LOG:
            with open(_LOG, "a", encoding="utf-8") as out:
                out.write(f"pickle.find_class {args[0]}.{args[1]}\n")

    sys.addaudithook(_audit)
