"""DUIS over HTTP in DCC Boxed's shape (`s1bench serve`), in front of a site's installations.

The rooms: :mod:`.site` (the site file: installations by the user's own
device ids, users, the Receive Response URL), :mod:`.runtime` (the DCC and
installations on their own thread and clock, :mod:`.clock`), :mod:`.gateway`
(the checks before the DSP), :mod:`.delivery` (the on-disk outbox posting
outcomes and alerts) and :mod:`.app` (the ASGI app tying them together).
"""
