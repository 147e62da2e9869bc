"""Schemathesis hooks (SCHEMATHESIS_HOOKS=schemathesis_hooks, see
schemathesis.rs): the `iccid` string format of the card center's document.
A pattern cannot say the Luhn check digit; this strategy draws ICCIDs that
have it, so a schema-valid ICCID is one the server accepts."""

import schemathesis
from hypothesis import strategies as st


def luhn_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


@st.composite
def iccids(draw):
    prefix = draw(st.sampled_from(["898601", "898606", "898609"]))
    body = draw(st.text(alphabet="0123456789", min_size=12, max_size=13))
    payload = prefix + body
    return payload + luhn_digit(payload)


schemathesis.openapi.format("iccid", iccids())
