"""DTC code sets used by D0010 version 002 (Data Item Catalogue 15.4).

Stored values are the DTC codes themselves: they are the industry's stable identifiers
(spec §6.4), they are what a data collector will quote back, and one character per
reading matters in a table of billions. Labels are for people.
"""

from typing import Final

FLOW_REFERENCE: Final = "D0010"
SUPPORTED_FLOW_VERSION: Final = "002"
LIVE_DATA_FLAG: Final = "OPER"

# J0171 Reading Type (group 028).
READING_TYPES: Final[dict[str, str]] = {
    "A": "Actual change of supplier read",
    "C": "Customer own read",
    "D": "Deemed (settlement) or estimated (non-settlement)",
    "F": "Final",
    "I": "Initial",
    "M": "MAR",
    "O": "Old supplier's estimated CoS reading",
    "P": "Electronically collected via PPMIP",
    "Q": "Meter reading modified manually by DC",
    "R": "Routine",
    "S": "Special",
    "T": "Proving test reading",
    "U": "Forward migration, change of agent",
    "V": "Forward migration, change of supplier",
    "W": "Withdrawn",
    "X": "Supplier-agreed switch read",
    "Y": "Reverse migration, change of supplier",
    "Z": "Actual change of tenancy read",
}
# 'O' belongs to D0071 and D0300 only (DIC note on J0171).
READING_TYPES_NOT_IN_D0010: Final = frozenset({"O"})

# J0022 BSC Validation Status (group 026).
BSC_VALIDATION_STATUSES: Final[dict[str, str]] = {
    "V": "Validated",
    "U": "Not validated",
    "F": "Failed BSC validation",
}

# J1888 Reading Method (group 030). The 15.4 export has an empty valid set; N/P come
# from several independent implementations (spec §3.5, LIKELY).
READING_METHODS: Final[dict[str, str]] = {
    "N": "Not viewed by an agent (non site visit)",
    "P": "Viewed by an agent (site visit)",
}

# J0332 Meter Reading Reason Code (group 032).
VALIDATION_REASON_CODES: Final[dict[str, str]] = {
    "01": "MSID incorrect",
    "02": "Reading dates",
    "03": "Negative consumption",
    "04": "Inconsistent with slave register advance",
    "05": "Consumption exceeds twice the expected advance",
    "06": "Meter incorrectly energised",
    "07": "Meter incorrectly de-energised",
    "08": "Full-scale MD",
    "09": "Zero MD",
    "10": "More than one MD reset",
    "11": "Wrong number of register digits",
    "12": "Inconsistent register read date",
    "13": "Faulty meter",
    "14": "Handheld read failure",
    "15": "Meter not on site / metering protocol not approved",
    "16": "Standing data incorrect",
    "17": "No access to meter",
    "18": "Meter time/date reset",
    "19": "Outstation reset",
    "20": "Meter change / maintenance",
    "21": "Phase failure",
    "22": "Meters recording zeros",
    "23": "Test data recorded",
    "24": "Data lapse",
    "25": "Actual data manually keyed",
    "26": "Invalid zero advances",
    "27": "Zero consumption",
}

# J0024 Site Visit Check Code (groups 027, 029, 033). The DIC calls the list
# illustrative, so an unlisted code is flagged, not refused.
SITE_VISIT_CHECK_CODES: Final[dict[str, str]] = {
    "01": "Site occupied",
    "02": "Site not occupied",
    "03": "Metering system energised",
    "04": "Metering system de-energised",
    "05": "Equipment/meter damage",
    "06": "Suspected tampering",
    "07": "Timeswitch stopped",
    "08": "Phase/fuse failure",
    "09": "Consumption on de-energised meter",
    "10": "Change of meter",
    "11": "Zero reading on MD register",
    "13": "MD register at full scale",
    "14": "More than one MD reset",
    "15": "Meter stopped",
    "16": "Seals damaged",
    "17": "Seals missing",
    "18": "Unsafe premises",
    "19": "Call not made on routine visit",
    "20": "No access",
    "21": "Access refused",
    "22": "Meter blocked",
    "23": "Wiring dangerous/incomplete",
    "24": "Token meter reset",
    "25": "Token meter not reset",
    "26": "Agent missed appointment",
    "27": "Reading manually modified by NHHDC (no visit needed)",
    "28": "No access: insufficient address",
    "29": "Customer unable to give access",
    "30": "No access to HV environment",
    "31": "Interrogation port unavailable (HH only)",
    "32": "Wrong meter/outstation password (HH only)",
    "33": "Handheld failure (HH only)",
    "34": "Suspected demolished",
    "35": "Demolished",
    "36": "Change of occupier",
    "37": "Unmanned",
    "38": "No access: key/code unavailable",
    "39": "Meter not found at property",
    "40": "Suspected energised",
    "41": "Suspected de-energised",
    "42": "Site capable of exporting",
    "43": "Supply remotely disabled",
    "44": "Supply remotely re-armed",
    "50": "Category A network defect reported",
    "51": "Category B network defect reported",
    "52": "Additional equipment required",
    "53": "Cannot establish WAN",
    "54": "Cannot establish HAN",
    "55": "Insufficient space for new meter",
    "56": "No access: parking restrictions",
    "57": "Installation stopped by adverse weather",
    "58": "Installation stopped by height/position of meter",
    "88": "Request rejected",
    "89": "Fault resolution completion report",
}
