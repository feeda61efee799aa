"""US state names -> the two-letter USPS codes NetSuite keeps on US addresses.

Zuora contacts usually hold the full name ("California"); NetSuite's US address state is the
USPS code ("CA"). The 50 states, the District of Columbia, the territories, the freely
associated states and the military "states" (APO/FPO addresses) are all valid USPS codes.
"""

from __future__ import annotations

import re

USPS_CODES: dict[str, str] = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "FL": "Florida",
    "GA": "Georgia",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
    "DC": "District of Columbia",
    "AS": "American Samoa",
    "GU": "Guam",
    "MP": "Northern Mariana Islands",
    "PR": "Puerto Rico",
    "VI": "U.S. Virgin Islands",
    "FM": "Federated States of Micronesia",
    "MH": "Marshall Islands",
    "PW": "Palau",
    "AA": "Armed Forces Americas",
    "AE": "Armed Forces Europe",
    "AP": "Armed Forces Pacific",
}

# Other spellings seen in billing systems, keyed like _key() below.
_ALIASES: dict[str, str] = {
    "washington dc": "DC",
    "us virgin islands": "VI",
    "united states virgin islands": "VI",
    "virgin islands": "VI",
    "commonwealth of the northern mariana islands": "MP",
    "micronesia": "FM",
    "commonwealth of puerto rico": "PR",
}


def _key(text: str) -> str:
    """Case, dots, commas and extra spaces do not matter: "Washington, D.C." == "washington dc"."""
    return " ".join(re.sub(r"[.,]", "", text).split()).casefold()


_BY_KEY: dict[str, str] = {
    **{_key(code): code for code in USPS_CODES},
    **{_key(name): code for code, name in USPS_CODES.items()},
    **_ALIASES,
}


def usps_code(value: str) -> str | None:
    """The USPS code for a state's code or name ("ca", "California" -> "CA"); unknown -> None."""
    return _BY_KEY.get(_key(value))
