"""The embedded broker: kombu's filesystem transport, with messages written atomically.

kombu writes a message file in place while a worker may already be moving and reading it;
a half-written file then stops the worker with a JSON error. Writing under a name the
reader skips and renaming it into place closes that window.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils import json
from kombu.utils.encoding import str_to_bytes


class FolderChannel(filesystem.Channel):
    # kombu's own base classes disagree on this signature; this is filesystem.Channel's.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot: the reader only takes names of the form "<id>.<queue>.msg".
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            with open(partial, "wb") as handle:
                handle.write(str_to_bytes(json.dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class FolderTransport(filesystem.Transport):
    Channel = FolderChannel
