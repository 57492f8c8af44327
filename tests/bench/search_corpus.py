"""The search benchmark's synthetic records: contacts (Western and Chinese names, phones, emails at
many company domains), deals and tickets, owned by BENCH_OWNERS reps, deterministic per seed.

The records are shaped like the owning services' (a contact as contacts.domain.new_contact writes
it, a deal and a ticket with the fields the search documents read), so the documents are built by
the search service's own rules (search.domain) and carry the access tokens it computes.

CORPUS_VERSION names the data: a change to what is generated bumps it, so a cached index built
from older data is never measured as if it were this one."""

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

CORPUS_VERSION = 1
OWNERS = 50
POOL_SHARE = 0.08  # contacts in the customer pool (no owner)
CHINESE_SHARE = 0.4
WEBMAIL = ("gmail.com", "outlook.com", "yahoo.com", "163.com", "qq.com")
WEBMAIL_SHARE = 0.3
COMPANY_DOMAINS = 40_000  # a long tail: most domains hold a handful of contacts
SPAN_DAYS = 1095  # records created over the last three years

WESTERN_FIRST = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan Joseph "
    "Jessica Thomas Sarah Charles Karen Daniel Lisa Matthew Nancy Anthony Betty Mark Sandra Donald Ashley Steven "
    "Emily Paul Donna Andrew Michelle Joshua Carol Kenneth Amanda Kevin Melissa Brian Deborah George Stephanie "
    "Timothy Rebecca Ronald Laura Jason Sharon Edward Cynthia Jeffrey Kathleen Ryan Amy Jacob Angela Gary Anna"
).split()
WESTERN_LAST = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall Rivera "
    "Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart "
    "Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim "
    "Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo "
    "Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell Coleman Butler "
    "Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson Alexander Hamilton Graham Reynolds "
    "Griffin Wallace Moreno West Cole Hayes Bryant Herrera Gibson Ellis Tran Medina Aguilar Stevens Murray Ford "
    "Castro Marshall Owens Harrison Fernandez McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman "
    "Webb Tucker Guzman Burns Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon "
    "Munoz Hunt Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice "
    "Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn Kelley Spencer "
    "Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott Cunningham Duncan Armstrong "
    "Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry Perkins Hoffman Johnston Matthews Pena Richards "
    "Contreras Willis Carpenter Lawrence Sandoval Guerrero George Chapman Rios Estrada Ortega Watkins Greene "
    "Nunez Wheeler Valdez Harper Burke Larson Santiago Maldonado Morrison Franklin Carlson Austin Dominguez "
    "Carr Lawson Jacobs Obrien Lynch Singh Vega Bishop Montgomery Oliver Jensen Harvey Williamson Gilbert Dean "
    "Sims Espinoza Howell Li Wong Reid Hanson Le McCoy Garrett Burton Fuller Wang Weber Welch Rojas Lucas Marquez "
    "Fields Park Yang Little Banks Padilla Day Walsh Bowman Schultz Luna Fowler Mejia Davidson Acosta Brewer May "
    "Holland Juarez Newman Pearson Curtis Cortez Douglas Schneider Joseph Barrett Navarro Figueroa Keller Avila "
    "Wade Molina Stanley Hopkins Campos Barnett Bates Chambers Caldwell Beck Lambert Miranda Byrd Craig Ayala "
    "Lowe Frazier Powers Neal Leonard Gregory Carrillo Sutton Fleming Rhodes Shelton Schwartz Norris Jennings "
    "Watts Duran Walters Cohen McDaniel Moran Parks Steele Vaughn Becker Holt Deleon Barker Terry Hale Leon Hail "
    "Benson Haynes Horton Miles Lyons Pham Graves Bush Thornton Wolfe Warner Cabrera McKinney Mann Zimmerman "
    "Dawson Lara Fletcher Page McCarthy Love Robles Cervantes Solis Erickson Reeves Chang Klein Salinas Fuentes "
    "Baldwin Daniel Simon Velasquez Hardy Higgins Aguirre Lin Cummings Chandler Sharp Barber Bowen Ochoa Dennis "
    "Robbins Liu Ramsey Francis Griffith Paul Blair Oconnor Cardenas Pacheco Cross Calderon Quinn Moss Swanson "
    "Chan Rivas Khan Rodgers Serrano Fitzgerald Rosales Stevenson Christensen Manning Gill Curry McLaughlin "
    "Harmon McGee Gross Doyle Garner Newton Burgess Reese Walton Blake Trujillo Adkins Brady Goodman Roman Webster"
).split()
CHINESE_FAMILY = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
    "姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
CHINESE_GIVEN = (
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉梅兵文辉鹏"
    "飞宇浩凯俊帅晨欣怡婷雪琳佳慧颖瑶璐倩思雨轩子涵博文泽睿嘉瑞晓东海燕玲春"
)
CHINESE_PINYIN = ("Wei", "Fang", "Na", "Min", "Jing", "Li", "Qiang", "Lei", "Jun", "Yang", "Yong", "Yan", "Jie")
COMPANY_WORDS = (
    "acme globex initech umbrella stark wayne cyberdyne soylent tyrell wonka hooli vandelay oscorp aperture "
    "massive dynamic pied piper lotus orchid pearl summit harbor river maple cedar silver golden eastern western "
    "northern southern pacific atlantic dragon phoenix jade lantern bridge tower crystal quantum nimbus vertex "
    "apex zenith nova stellar lunar solar terra aqua ignis ventus polar tropic alpine canyon prairie meadow"
).split()
COMPANY_KINDS = ("trading", "robotics", "logistics", "foods", "textiles", "software", "pharma", "motors", "labs")
TLDS = ("com", "cn", "com.cn", "net", "io", "co")
TITLES = ("Buyer", "Purchasing Manager", "CEO", "CTO", "Owner", "Sales Director", "Engineer", "Accountant")
TAGS = ("vip", "trade-show", "referral", "wholesale", "retail", "key-account", "newsletter")
STAGES = (("lead", 0.1), ("qualified", 0.3), ("proposal", 0.5), ("negotiation", 0.7), ("won", 1.0))
DEAL_WORDS = ("Annual supply", "Pilot order", "Renewal", "Expansion", "Spare parts", "Service contract", "Upgrade")
PRODUCTS = ("Widget A", "Widget B", "Gear kit", "Sensor pack", "Control unit", "Cable set", "Pump", "Valve")
TICKET_SUBJECTS = (
    "Cannot log in",
    "Invoice amount wrong",
    "Delivery delayed",
    "Product arrived damaged",
    "Refund request",
    "How do I export my data",
    "Password reset email not received",
    "Wrong item shipped",
    "Warranty claim",
    "Installation help needed",
)
TICKET_BODIES = (
    "The customer reports the issue started yesterday after the update.",
    "Order number attached; please check with the warehouse.",
    "Customer called twice, escalating to tier two.",
    "Screenshots in the attachment; happens on every browser.",
    "Asked for a callback before Friday.",
)
PRIORITIES = ("low", "normal", "high", "urgent")
TICKET_STATUSES = ("new", "open", "pending", "solved", "closed")
TEAMS = tuple(f"bench-team-{n}" for n in range(5))


def owner_ids() -> list[str]:
    return [f"bench-rep-{n:02d}" for n in range(OWNERS)]


def company_domain(n: int) -> str:
    words = COMPANY_WORDS
    return (
        f"{words[n % len(words)]}-{words[(n // len(words)) % len(words)]}-"
        f"{COMPANY_KINDS[(n // 7) % len(COMPANY_KINDS)]}{n // 5000 or ''}.{TLDS[n % len(TLDS)]}"
    )


def small_company_domain() -> str:
    """A domain of the long tail (a company with a handful of contacts): the email-domain query."""
    return company_domain(COMPANY_DOMAINS - 17)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _created(rnd: random.Random, now: datetime, i: int, count: int) -> str:
    # Oldest first, as a store fills over time, with a little jitter.
    offset = SPAN_DAYS * 86400 * (1 - i / max(count, 1)) + rnd.randrange(3600)
    return _stamp(now - timedelta(seconds=offset))


def _phone(rnd: random.Random) -> str:
    if rnd.random() < 0.6:
        return f"+86 1{rnd.choice('3578')}{rnd.randrange(10)} {rnd.randrange(10000):04d} {rnd.randrange(10000):04d}"
    return f"+1 ({rnd.randrange(200, 999)}) {rnd.randrange(200, 999)}-{rnd.randrange(10000):04d}"


def _domain(rnd: random.Random) -> str:
    if rnd.random() < WEBMAIL_SHARE:
        return rnd.choice(WEBMAIL)
    # A few large customers (a fifth of the company mail at 200 domains), then a long tail of small ones.
    if rnd.random() < 0.2:
        return company_domain(rnd.randrange(200))
    return company_domain(rnd.randrange(200, COMPANY_DOMAINS))


def contact_fields(rnd: random.Random, owners: list[str]) -> dict:
    """The writable fields of one contact, as a create request would carry them."""
    if rnd.random() < CHINESE_SHARE:
        family = rnd.choice(CHINESE_FAMILY)
        given = "".join(rnd.choice(CHINESE_GIVEN) for _ in range(rnd.choice((1, 2, 2))))
        first, last = given, family
        handle = f"{rnd.choice(CHINESE_PINYIN).lower()}{rnd.randrange(1000)}"
    else:
        first, last = rnd.choice(WESTERN_FIRST), rnd.choice(WESTERN_LAST)
        handle = f"{first.lower()}.{last.lower()}{rnd.randrange(100) if rnd.random() < 0.3 else ''}"
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{handle}@{_domain(rnd)}",
        "phone": _phone(rnd),
        "title": rnd.choice(TITLES) if rnd.random() < 0.5 else None,
        "tags": rnd.sample(TAGS, rnd.randrange(3)),
        "owner_id": None if rnd.random() < POOL_SHARE else rnd.choice(owners),
        "lifecycle_stage": rnd.choice(("lead", "lead", "prospect", "customer")),
        "value_grade": rnd.choice(("A", "B", "C", "C", None)),
    }


def contacts(count: int, seed: int = 8) -> Iterator[dict]:
    """`count` contacts as the contacts service stores them (contacts.domain.new_contact, at the
    store's first version), oldest first."""
    from contacts import domain

    rnd = random.Random(seed)
    owners = owner_ids()
    now = datetime.now(UTC)
    for i in range(count):
        fields = contact_fields(rnd, owners)
        contact = domain.new_contact(fields, "bench", _created(rnd, now, i, count))
        yield {**contact, "id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)), "version": 1}


def deals(count: int, seed: int = 9) -> Iterator[dict]:
    rnd = random.Random(seed)
    owners = owner_ids()
    now = datetime.now(UTC)
    for i in range(count):
        created = _created(rnd, now, i, count)
        stage, _probability = rnd.choice(STAGES)
        yield {
            "id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "version": 1,
            "title": f"{rnd.choice(DEAL_WORDS)} {rnd.choice(WESTERN_LAST)} {rnd.choice(COMPANY_WORDS).title()}",
            "amount": f"{rnd.randrange(1000, 500000)}.00",
            "currency": rnd.choice(("CNY", "CNY", "USD", "EUR")),
            "stage_id": stage,
            "stage_name": stage.title(),
            "status": "won" if stage == "won" else rnd.choice(("open", "open", "open", "lost")),
            "pipeline_id": "default",
            "owner_id": rnd.choice(owners),
            "line_items": [{"product": rnd.choice(PRODUCTS), "sku": f"SKU-{rnd.randrange(100000):05d}"}],
            "expected_close_date": (now + timedelta(days=rnd.randrange(-200, 240))).date().isoformat(),
            "created_at": created,
            "updated_at": created,
        }


def tickets(count: int, seed: int = 10) -> Iterator[dict]:
    rnd = random.Random(seed)
    owners = owner_ids()
    now = datetime.now(UTC)
    for i in range(count):
        created = _created(rnd, now, i, count)
        yield {
            "id": str(uuid.UUID(int=rnd.getrandbits(128), version=4)),
            "version": 1,
            "number": i + 1,
            "subject": f"{rnd.choice(TICKET_SUBJECTS)} #{i + 1}",
            "description": rnd.choice(TICKET_BODIES),
            "category": rnd.choice(("billing", "shipping", "account", "product")),
            "priority": rnd.choice(PRIORITIES),
            "status": rnd.choice(TICKET_STATUSES),
            "kind": rnd.choice(("question", "incident", "problem", "task")),
            "team_id": rnd.choice(TEAMS),
            "assignee_id": None,
            "contact_owner_id": None if rnd.random() < POOL_SHARE else rnd.choice(owners),
            "created_at": created,
            "updated_at": created,
        }
