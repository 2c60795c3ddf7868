"""ChargeX Minimum Required Error Codes (MRECs): the fault codes a station reports in 1.6
`vendorErrorCode` (or 2.0.1 `techCode`) next to the OCPP error code. Pure.

The names are ChargeX's (inl.gov/chargex/mrec); codes of the form CX0NN that this table does not
list are still recognised, and named as such.
"""

from __future__ import annotations

import re
from typing import Final

MREC_NAMES: Final = {
    "CX001": "ConnectorLockFailure: failure to lock or unlock the connector on the vehicle side",
    "CX002": "GroundFailure: the ground fault circuit interrupter has been activated",
    "CX003": "HighTemperature: high temperature inside the EVSE is derating power delivery",
    "CX004": "OverCurrentFailure: an over-current protection device has tripped",
    "CX005": "OverVoltage: input voltage to the vehicle has risen above an acceptable level",
    "CX006": "UnderVoltage: input voltage to the vehicle has dropped below an acceptable level",
}
_PATTERN: Final = re.compile(r"CX0\d\d")


def chargex_code(text: str | None) -> tuple[str, str] | None:
    """(code, name) of the first MREC in a vendor error code or tech code, e.g. "CX002" or
    "F001,CX002" (compound codes are comma-separated)."""
    if not text:
        return None
    for part in text.split(","):
        code = part.strip().upper()
        if _PATTERN.fullmatch(code):
            return code, MREC_NAMES.get(code, "ChargeX MREC (not in this table)")
    return None
