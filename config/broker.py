"""kombu's filesystem transport, with messages that appear whole (the `make run` default broker).

The stock transport creates a message file, then locks and writes it; the consumer lists the
folder, moves each file away and reads it without a lock. A consumer that lists the folder
between the create and the write reads an empty or partial file, and the worker dies on the
JSON error ("Unrecoverable error: JSONDecodeError"), taking `make run` down with it (seen once in
a walkthrough, on a beat publish). Here a message is written under a name the consumer never
matches (it takes only `*.<queue>.msg`) and renamed into place: a rename within one folder is
atomic, so a consumer sees a whole message or none.
"""

import os
import uuid
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f"partial-{uuid.uuid4()}.tmp")
        try:
            with open(partial, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
