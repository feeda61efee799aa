"""ISO 3166-1 alpha-2 codes <-> English country names.

Zuora keeps a contact's country as a full name ("United States") and NetSuite wants the ISO
code ("US"), so both mapping directions convert through this table. Lookups are
case-insensitive and accept either a code or a name (Zuora also accepts codes on input).
"""

from __future__ import annotations

# One "CODE Name" per line; the name is the one we send to Zuora.
_TABLE = """
AD Andorra|AE United Arab Emirates|AF Afghanistan|AG Antigua and Barbuda|AI Anguilla
AL Albania|AM Armenia|AO Angola|AQ Antarctica|AR Argentina|AS American Samoa|AT Austria
AU Australia|AW Aruba|AX Åland Islands|AZ Azerbaijan|BA Bosnia and Herzegovina|BB Barbados
BD Bangladesh|BE Belgium|BF Burkina Faso|BG Bulgaria|BH Bahrain|BI Burundi|BJ Benin
BL Saint Barthélemy|BM Bermuda|BN Brunei Darussalam|BO Bolivia
BQ Bonaire, Sint Eustatius and Saba|BR Brazil|BS Bahamas|BT Bhutan|BV Bouvet Island
BW Botswana|BY Belarus|BZ Belize|CA Canada|CC Cocos (Keeling) Islands
CD Congo, the Democratic Republic of the|CF Central African Republic|CG Congo|CH Switzerland
CI Côte d'Ivoire|CK Cook Islands|CL Chile|CM Cameroon|CN China|CO Colombia|CR Costa Rica
CU Cuba|CV Cabo Verde|CW Curaçao|CX Christmas Island|CY Cyprus|CZ Czechia|DE Germany
DJ Djibouti|DK Denmark|DM Dominica|DO Dominican Republic|DZ Algeria|EC Ecuador|EE Estonia
EG Egypt|EH Western Sahara|ER Eritrea|ES Spain|ET Ethiopia|FI Finland|FJ Fiji
FK Falkland Islands (Malvinas)|FM Micronesia, Federated States of|FO Faroe Islands|FR France
GA Gabon|GB United Kingdom|GD Grenada|GE Georgia|GF French Guiana|GG Guernsey|GH Ghana
GI Gibraltar|GL Greenland|GM Gambia|GN Guinea|GP Guadeloupe|GQ Equatorial Guinea|GR Greece
GS South Georgia and the South Sandwich Islands|GT Guatemala|GU Guam|GW Guinea-Bissau
GY Guyana|HK Hong Kong|HM Heard Island and McDonald Islands|HN Honduras|HR Croatia|HT Haiti
HU Hungary|ID Indonesia|IE Ireland|IL Israel|IM Isle of Man|IN India
IO British Indian Ocean Territory|IQ Iraq|IR Iran, Islamic Republic of|IS Iceland|IT Italy
JE Jersey|JM Jamaica|JO Jordan|JP Japan|KE Kenya|KG Kyrgyzstan|KH Cambodia|KI Kiribati
KM Comoros|KN Saint Kitts and Nevis|KP Korea, Democratic People's Republic of
KR Korea, Republic of|KW Kuwait|KY Cayman Islands|KZ Kazakhstan
LA Lao People's Democratic Republic|LB Lebanon|LC Saint Lucia|LI Liechtenstein|LK Sri Lanka
LR Liberia|LS Lesotho|LT Lithuania|LU Luxembourg|LV Latvia|LY Libya|MA Morocco|MC Monaco
MD Moldova, Republic of|ME Montenegro|MF Saint Martin (French part)|MG Madagascar
MH Marshall Islands|MK North Macedonia|ML Mali|MM Myanmar|MN Mongolia|MO Macao
MP Northern Mariana Islands|MQ Martinique|MR Mauritania|MS Montserrat|MT Malta|MU Mauritius
MV Maldives|MW Malawi|MX Mexico|MY Malaysia|MZ Mozambique|NA Namibia|NC New Caledonia
NE Niger|NF Norfolk Island|NG Nigeria|NI Nicaragua|NL Netherlands|NO Norway|NP Nepal
NR Nauru|NU Niue|NZ New Zealand|OM Oman|PA Panama|PE Peru|PF French Polynesia
PG Papua New Guinea|PH Philippines|PK Pakistan|PL Poland|PM Saint Pierre and Miquelon
PN Pitcairn|PR Puerto Rico|PS Palestine, State of|PT Portugal|PW Palau|PY Paraguay|QA Qatar
RE Réunion|RO Romania|RS Serbia|RU Russian Federation|RW Rwanda|SA Saudi Arabia
SB Solomon Islands|SC Seychelles|SD Sudan|SE Sweden|SG Singapore
SH Saint Helena, Ascension and Tristan da Cunha|SI Slovenia|SJ Svalbard and Jan Mayen
SK Slovakia|SL Sierra Leone|SM San Marino|SN Senegal|SO Somalia|SR Suriname|SS South Sudan
ST Sao Tome and Principe|SV El Salvador|SX Sint Maarten (Dutch part)|SY Syrian Arab Republic
SZ Eswatini|TC Turks and Caicos Islands|TD Chad|TF French Southern Territories|TG Togo
TH Thailand|TJ Tajikistan|TK Tokelau|TL Timor-Leste|TM Turkmenistan|TN Tunisia|TO Tonga
TR Turkey|TT Trinidad and Tobago|TV Tuvalu|TW Taiwan|TZ Tanzania, United Republic of
UA Ukraine|UG Uganda|UM United States Minor Outlying Islands|US United States|UY Uruguay
UZ Uzbekistan|VA Holy See (Vatican City State)|VC Saint Vincent and the Grenadines
VE Venezuela|VG Virgin Islands, British|VI Virgin Islands, U.S.|VN Viet Nam|VU Vanuatu
WF Wallis and Futuna|WS Samoa|YE Yemen|YT Mayotte|ZA South Africa|ZM Zambia|ZW Zimbabwe
"""

# Other spellings people and systems use; accepted on input, never produced.
_ALIASES = {
    "USA": "US",
    "U.S.A.": "US",
    "U.S.": "US",
    "United States of America": "US",
    "UK": "GB",
    "Great Britain": "GB",
    "United Kingdom of Great Britain and Northern Ireland": "GB",
    "Aland Islands": "AX",
    "Saint Barthelemy": "BL",
    "Brunei": "BN",
    "Bolivia, Plurinational State of": "BO",
    "Cape Verde": "CV",
    "Congo, Democratic Republic of the": "CD",
    "Democratic Republic of the Congo": "CD",
    "Republic of the Congo": "CG",
    "Cote d'Ivoire": "CI",
    "Ivory Coast": "CI",
    "Curacao": "CW",
    "Czech Republic": "CZ",
    "Falkland Islands": "FK",
    "Micronesia": "FM",
    "Iran": "IR",
    "North Korea": "KP",
    "South Korea": "KR",
    "Korea": "KR",
    "Laos": "LA",
    "Moldova": "MD",
    "Macedonia": "MK",
    "Macedonia, the former Yugoslav Republic of": "MK",
    "Burma": "MM",
    "Macau": "MO",
    "Palestine": "PS",
    "Reunion": "RE",
    "Russia": "RU",
    "Saint Helena": "SH",
    "Syria": "SY",
    "Swaziland": "SZ",
    "East Timor": "TL",
    "Türkiye": "TR",
    "Turkiye": "TR",
    "Taiwan, Province of China": "TW",
    "Tanzania": "TZ",
    "Vatican": "VA",
    "Vatican City": "VA",
    "Holy See": "VA",
    "Venezuela, Bolivarian Republic of": "VE",
    "British Virgin Islands": "VG",
    "US Virgin Islands": "VI",
    "U.S. Virgin Islands": "VI",
    "Vietnam": "VN",
    "Netherlands, The": "NL",
    "The Netherlands": "NL",
}

NAME_BY_CODE: dict[str, str] = dict(
    entry.strip().split(" ", 1) for entry in _TABLE.replace("\n", "|").split("|") if entry.strip()
)

_CODE_BY_KEY: dict[str, str] = {
    **{code.casefold(): code for code in NAME_BY_CODE},
    **{name.casefold(): code for code, name in NAME_BY_CODE.items()},
    **{alias.casefold(): code for alias, code in _ALIASES.items()},
}


def to_code(value: str | None) -> str | None:
    """ISO alpha-2 code for a country code or name ("united states" -> "US"); unknown -> None."""
    if not value:
        return None
    return _CODE_BY_KEY.get(" ".join(value.split()).casefold())


def to_name(value: str | None) -> str | None:
    """English name for a country code or name ("us" -> "United States"); unknown -> None."""
    code = to_code(value)
    return NAME_BY_CODE[code] if code else None
