"""Names and regions of the countries in the names dataset (ISO 3166-1 alpha-2 codes).

``names-dataset`` labels a last name with the countries of the people who carry it (105
countries). Its only code-to-name source is its dependency ``pycountry``, whose official names
are long ("Korea, Republic of", "Taiwan, Province of China"), so the short English names are
kept here, next to a region for each country: the label of ``dataset.labels=region``.

Regions group countries whose surnames share a language or naming tradition (surnames travel
with languages more than with borders), and fall back to geography where one country mixes
several traditions. Choices a reader may not expect:

- English-speaking: United States, United Kingdom, Ireland, Canada and Jamaica.
- Spanish & Portuguese: Spain, Portugal, Latin America (Brazil included) and Angola.
- French: France, Haiti and Mauritius (Creole and Franco-Mauritian surnames); Belgium is in
  Germanic (most Belgian surnames are Flemish), Luxembourg too.
- Nordic & Finnic: Denmark, Iceland, Norway, Sweden, Finland and Estonia (the neighbours, though
  Finnish and Estonian are not Germanic languages).
- Italian & Greek: Italy, Malta (Italian and Semitic surnames), Greece and Cyprus.
- Slavic & Baltic: Russia, Poland, Czechia and Lithuania; the South Slavic countries are in
  Balkan with Albania, Bulgaria and Moldova (Romanian).
- Turkic & Caucasian: Turkey, Azerbaijan, Kazakhstan, Turkmenistan and Georgia.
- Arabic: the Arab League members here, Maghreb included (Algeria, Libya, Morocco, Tunisia).
- East Asian: China, Hong Kong, Macao, Taiwan, Singapore, Japan and South Korea.
- Southeast Asian & Pacific: Indonesia, Malaysia, Brunei, the Philippines, Cambodia and Fiji.
- African: sub-Saharan countries (Nigeria, Ghana, Cameroon, Burkina Faso, Ethiopia, Burundi,
  Djibouti, South Africa, Namibia, Botswana).

The dataset has no Vietnam, Australia, Romania or Pakistan: Nguyen, for instance, is mostly a
name of the United States (47 %) and France (16 %) there, so it is labelled English-speaking.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    """One country of the names dataset."""

    code: str  # ISO 3166-1 alpha-2
    name: str  # short English name
    region: str  # surname region, see the module docstring


_EN = "English-speaking"
_IB = "Spanish & Portuguese"
_FR = "French"
_GE = "Germanic"
_NO = "Nordic & Finnic"
_IG = "Italian & Greek"
_SL = "Slavic & Baltic"
_BA = "Balkan"
_HU = "Hungarian"
_TU = "Turkic & Caucasian"
_AR = "Arabic"
_PE = "Persian"
_HE = "Hebrew"
_SA = "South Asian"
_EA = "East Asian"
_SE = "Southeast Asian & Pacific"
_AF = "African"

_TABLE: tuple[tuple[str, str, str], ...] = (
    ("AE", "United Arab Emirates", _AR),
    ("AF", "Afghanistan", _PE),
    ("AL", "Albania", _BA),
    ("AO", "Angola", _IB),
    ("AR", "Argentina", _IB),
    ("AT", "Austria", _GE),
    ("AZ", "Azerbaijan", _TU),
    ("BD", "Bangladesh", _SA),
    ("BE", "Belgium", _GE),
    ("BF", "Burkina Faso", _AF),
    ("BG", "Bulgaria", _BA),
    ("BH", "Bahrain", _AR),
    ("BI", "Burundi", _AF),
    ("BN", "Brunei", _SE),
    ("BO", "Bolivia", _IB),
    ("BR", "Brazil", _IB),
    ("BW", "Botswana", _AF),
    ("CA", "Canada", _EN),
    ("CH", "Switzerland", _GE),
    ("CL", "Chile", _IB),
    ("CM", "Cameroon", _AF),
    ("CN", "China", _EA),
    ("CO", "Colombia", _IB),
    ("CR", "Costa Rica", _IB),
    ("CY", "Cyprus", _IG),
    ("CZ", "Czechia", _SL),
    ("DE", "Germany", _GE),
    ("DJ", "Djibouti", _AF),
    ("DK", "Denmark", _NO),
    ("DZ", "Algeria", _AR),
    ("EC", "Ecuador", _IB),
    ("EE", "Estonia", _NO),
    ("EG", "Egypt", _AR),
    ("ES", "Spain", _IB),
    ("ET", "Ethiopia", _AF),
    ("FI", "Finland", _NO),
    ("FJ", "Fiji", _SE),
    ("FR", "France", _FR),
    ("GB", "United Kingdom", _EN),
    ("GE", "Georgia", _TU),
    ("GH", "Ghana", _AF),
    ("GR", "Greece", _IG),
    ("GT", "Guatemala", _IB),
    ("HK", "Hong Kong", _EA),
    ("HN", "Honduras", _IB),
    ("HR", "Croatia", _BA),
    ("HT", "Haiti", _FR),
    ("HU", "Hungary", _HU),
    ("ID", "Indonesia", _SE),
    ("IE", "Ireland", _EN),
    ("IL", "Israel", _HE),
    ("IN", "India", _SA),
    ("IQ", "Iraq", _AR),
    ("IR", "Iran", _PE),
    ("IS", "Iceland", _NO),
    ("IT", "Italy", _IG),
    ("JM", "Jamaica", _EN),
    ("JO", "Jordan", _AR),
    ("JP", "Japan", _EA),
    ("KH", "Cambodia", _SE),
    ("KR", "South Korea", _EA),
    ("KW", "Kuwait", _AR),
    ("KZ", "Kazakhstan", _TU),
    ("LB", "Lebanon", _AR),
    ("LT", "Lithuania", _SL),
    ("LU", "Luxembourg", _GE),
    ("LY", "Libya", _AR),
    ("MA", "Morocco", _AR),
    ("MD", "Moldova", _BA),
    ("MO", "Macao", _EA),
    ("MT", "Malta", _IG),
    ("MU", "Mauritius", _FR),
    ("MV", "Maldives", _SA),
    ("MX", "Mexico", _IB),
    ("MY", "Malaysia", _SE),
    ("NA", "Namibia", _AF),
    ("NG", "Nigeria", _AF),
    ("NL", "Netherlands", _GE),
    ("NO", "Norway", _NO),
    ("OM", "Oman", _AR),
    ("PA", "Panama", _IB),
    ("PE", "Peru", _IB),
    ("PH", "Philippines", _SE),
    ("PL", "Poland", _SL),
    ("PR", "Puerto Rico", _IB),
    ("PS", "Palestine", _AR),
    ("PT", "Portugal", _IB),
    ("QA", "Qatar", _AR),
    ("RS", "Serbia", _BA),
    ("RU", "Russia", _SL),
    ("SA", "Saudi Arabia", _AR),
    ("SD", "Sudan", _AR),
    ("SE", "Sweden", _NO),
    ("SG", "Singapore", _EA),
    ("SI", "Slovenia", _BA),
    ("SV", "El Salvador", _IB),
    ("SY", "Syria", _AR),
    ("TM", "Turkmenistan", _TU),
    ("TN", "Tunisia", _AR),
    ("TR", "Turkey", _TU),
    ("TW", "Taiwan", _EA),
    ("US", "United States", _EN),
    ("UY", "Uruguay", _IB),
    ("YE", "Yemen", _AR),
    ("ZA", "South Africa", _AF),
)

COUNTRIES: dict[str, Country] = {code: Country(code, name, region) for code, name, region in _TABLE}
REGIONS: tuple[str, ...] = tuple(sorted({c.region for c in COUNTRIES.values()}))


def country_name(code: str) -> str:
    """Short English name of an ISO 3166-1 alpha-2 code; an unknown code comes back as it is.

    Labels that are not country codes (regions, the tutorial's nationalities) pass through, so a
    caller can map any label column with it.
    """
    c = COUNTRIES.get(str(code))
    return c.name if c is not None else str(code)


def region_of(code: str) -> str:
    """The surname region of a country code; `KeyError` naming the code when it has none."""
    try:
        return COUNTRIES[str(code)].region
    except KeyError:
        raise KeyError(f"country code {code!r} has no region in lookup.data.countries") from None
