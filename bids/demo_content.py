"""The demo's organisations, people and bids, as plain data read by `bids.demo`.

Every organisation except The Relationships Project and The National Lottery
Community Fund is fictional; no charity numbers are given. The Collective's bid
is restated in our own words from what The Relationships Project published.
"""

from __future__ import annotations

DEMO_PASSWORD = "demo-password-123"

NLCF = "The National Lottery Community Fund"
FFYNNON = "Ffynnon Community Foundation Wales"
THISTLE = "The Thistle and Heather Trust"
MARRAM = "The Marram Foundation"
SHARED_ISLAND = "Shared Island Community Trust"

FUNDERS = [
    {"name": NLCF, "regions": ["England", "Northern Ireland", "Scotland", "Wales"],
     "website": "https://www.tnlcommunityfund.org.uk/",
     "description": "The largest community funder in the UK, distributing National Lottery money."},
    {"name": FFYNNON, "regions": ["Wales"],
     "description": "A (fictional) community foundation funding grassroots groups across Wales."},
    {"name": THISTLE, "regions": ["Scotland"],
     "description": "A (fictional) independent Scottish trust for connected, resilient communities."},
    {"name": MARRAM, "regions": ["England"],
     "description": "A (fictional) English trust interested in relational public services and food."},
    {"name": SHARED_ISLAND, "regions": ["Northern Ireland"],
     "description": "A (fictional) cross-border trust funding reconciliation work in euro."},
]

APPLICANTS = [
    {"name": "The Relationships Project", "kind": "collective", "regions": ["England"],
     "website": "https://relationshipsproject.org/",
     "description": "Champions relationship-centred practice and convenes people who put "
                    "relationships first in their work."},
    {"name": "Connecting Communities Cymru", "regions": ["Wales"],
     "description": "A (fictional) Cardiff charity linking neighbourhood groups across Wales."},
    {"name": "Kinship Scotland Network", "regions": ["Scotland"],
     "description": "A (fictional) Edinburgh network of practitioners in relational public services."},
    {"name": "Harbour Lane Neighbours", "regions": ["Northern Ireland"],
     "description": "A (fictional) volunteer-led neighbourhood group in east Belfast."},
    {"name": "Tea and Talk Manchester", "regions": ["England", "North West"],
     "description": "A (fictional) befriending charity for older people in north Manchester."},
    {"name": "Northgate Community Kitchen", "regions": ["England", "Yorkshire and the Humber"],
     "description": "A (fictional) community kitchen and food hub in Leeds."},
    {"name": "Brightside Youth Collective", "regions": ["Scotland"],
     "description": "A (fictional) youth-led group in Glasgow's east end."},
    {"name": "Digital Doorstep", "regions": ["Wales"],
     "description": "A (fictional) Swansea social enterprise helping people get online."},
    {"name": "Common Ground Belfast", "regions": ["Northern Ireland"],
     "description": "A (fictional) cross-community youth and sport charity in Belfast."},
    {"name": "Relational Places Lab", "regions": ["England", "South West"],
     "description": "A (fictional) Bristol practice lab working with councils on relational ways of working."},
    {"name": "Lochside Community Association", "regions": ["Scotland"],
     "description": "A (fictional) community association in rural Highland."},
    {"name": "Eastfield Community Hub", "regions": ["England", "Yorkshire and the Humber"],
     "description": "A (fictional) community centre on a Sheffield housing estate."},
]

# email, display name, organisation it belongs to (or None), admin?
PEOPLE = [
    ("demo@openbids.test", "Demo Writer", "The Relationships Project", False),
    ("admin@openbids.test", "Demo Administrator", None, True),
    ("funder1@openbids.test", "Demo Funder One", NLCF, False),
    ("funder2@openbids.test", "Demo Funder Two", THISTLE, False),
    ("kinship@openbids.test", "Demo Writer (Kinship Scotland)", "Kinship Scotland Network", False),
    ("northgate@openbids.test", "Demo Writer (Northgate)", "Northgate Community Kitchen", False),
]

COLLECTIVE_ID = "demo-trp-bringing-people-together-2022"

BIDS = [
    {
        "identifier": COLLECTIVE_ID,
        "organisation": "The Relationships Project",
        "title": "The Collective: building an infrastructure for relationships",
        "summary": (
            "An expression of interest for a two-year project to design, test and build shared "
            "infrastructure for the scattered field of relationship-centred practice. At its centre "
            "is The Collective, an openly recruited and paid group of organisations from different "
            "sectors, communities, identities and all four UK nations, serving the field rather than "
            "leading it, with The Relationships Project coordinating. Published openly so that others "
            "working on similar ideas can compare notes and find us."
        ),
        "body": """## Why this matters

Across the UK many people put relationships at the centre of their work: in health and care,
housing, youth work, faith groups, local government and neighbourhood projects. Yet they rarely
meet, learn from each other or act together. The field is rich but fragmented, and good practice
stays at the margins instead of becoming the normal way things are done.

## What we propose

Over two years we want to design, test and build an **infrastructure for relationships**: the
shared, mostly invisible work that lets a scattered field learn and act collectively.

At its heart is **The Collective**:

- a group of organisations recruited through an open call, paid for their time;
- deliberately diverse in sector, community, identity and geography, across England, Scotland,
  Wales and Northern Ireland;
- a *servant-leader* group that sets its own priorities once formed, in service of the wider field;
- supported by The Relationships Project, which provides coordination and administration.

## Ideas The Collective could take forward

1. A public, openly editable **network map** of the field, so people can see where they fit and
   who else is nearby.
2. **Breakthrough experiments**, for example relational approaches to philanthropy, and peer
   learning on how to measure relational impact.
3. Open, evolving **handbooks** that make the evidence on relationship-centred practice easy to use.
4. A growing **community** of practitioners, and pilot **collaborations with funders**.
5. Work towards **long-term funding** for the infrastructure beyond this grant.

## Budget

We are asking for GBP 300,000, the fund's maximum, over 24 months, to pay for:

- core capacity to coordinate The Collective and mobilise the wider field;
- costs of the experiments;
- honoraria for members of The Collective.

## Why we publish this

We share this bid in the spirit of open grant applications: published bids help writers compare
their work and help organisations with similar bids discover each other and collaborate.
""",
        "funder": NLCF, "programme": "Bringing People Together",
        "amount_requested": "300000", "amount_awarded": "300000", "currency": "GBP",
        "duration_months": 24, "decided_on": "2022-10-01", "status": "awarded",
        "themes": ["relational practice", "community cohesion", "collaboration", "infrastructure"],
        "locations": ["England", "Northern Ireland", "Scotland", "Wales"],
    },
    {
        "identifier": "demo-ccc-relational-wales-2023",
        "organisation": "Connecting Communities Cymru",
        "title": "Rhwydwaith Perthyn: a relational practice network for Wales",
        "summary": (
            "A two-year programme to connect the people and organisations across Wales who put "
            "relationships at the centre of their work, through a bilingual network, a shared map "
            "of relational practice and peer learning circles, so that a fragmented field can learn "
            "and act together."
        ),
        "body": """## The problem

In Wales, relationship-centred practice is alive in community groups, social care teams,
housing associations and schools, but practitioners work in isolation. Learning is lost when
projects end, and funders see scattered pilots rather than a movement.

## What we will do

Over 24 months we will build a **relational practice network for Wales**:

- a bilingual (Welsh and English) **network map** of organisations working relationally, openly
  published and maintained by its members;
- six **peer learning circles**, one per region, meeting monthly and paid for their time;
- an annual **gathering** in Aberystwyth for practitioners, commissioners and funders;
- a short **guide to measuring relational impact**, tested with ten member organisations.

## Who is involved

A steering group of eight organisations, recruited openly and representing rural and urban
Wales, Welsh-speaking communities and disabled people's organisations. Connecting Communities
Cymru will coordinate and host the network.

## Outcomes

- Practitioners report feeling less isolated and better able to make the case for relational work.
- At least 150 organisations appear on the map by the end of year two.
- Two joint funding proposals emerge from the learning circles.

## Budget

GBP 180,000 over 24 months: coordination (55%), honoraria for the steering group and circle
hosts (25%), gatherings and translation (20%).
""",
        "funder": FFYNNON, "programme": "Connected Communities",
        "amount_requested": "180000", "currency": "GBP", "duration_months": 24,
        "submitted_on": "2023-03-14", "status": "submitted",
        "themes": ["relational practice", "community cohesion", "collaboration"],
        "locations": ["Wales"],
    },
    {
        "identifier": "demo-ksn-kinship-in-practice-thistle-2023",
        "organisation": "Kinship Scotland Network",
        "title": "Kinship in Practice: a learning network for relationship-centred work in Scotland",
        "summary": (
            "A network that links Scottish practitioners who work relationally in health, care, "
            "housing and community settings, with a public map of the field, peer learning on "
            "measuring relational impact and a shared handbook, coordinated by Kinship Scotland "
            "Network over two years."
        ),
        "body": """## Background

Scotland's public service reform has long talked about relationships, but the people who practise
relationally (link workers, community nurses, tenancy officers, youth workers) rarely have time to
learn from each other. The field is fragmented and its evidence is hard to find.

## Our plan

Over two years we will build a **learning network for relationship-centred practice**:

1. **Map the field**: a public, member-maintained map of who is doing relational work and where.
2. **Peer learning**: four cohorts of practitioners exploring how to measure relational impact
   without reducing it to a tick-box.
3. **An open handbook** bringing together evidence and practical tools, updated as we learn.
4. **Funder conversations**: two round tables with Scottish funders on relational philanthropy.

## Governance

A paid reference group of nine organisations, recruited openly from the Highlands and Islands,
the central belt and the south of Scotland, sets the network's priorities. Kinship Scotland Network
provides coordination.

## What will change

- Practitioners find collaborators and evidence more easily.
- Commissioners and funders understand what relational practice needs to thrive.
- The network has a plan for sustainable funding by month 20.

## Costs

GBP 150,000 over 24 months, mainly a coordinator, honoraria for the reference group and the
costs of learning cohorts.
""",
        "funder": THISTLE, "programme": "Stronger Together",
        "amount_requested": "150000", "amount_awarded": "150000", "currency": "GBP",
        "duration_months": 24, "submitted_on": "2023-01-20", "decided_on": "2023-05-02",
        "status": "awarded",
        "themes": ["relational practice", "collaboration", "public services"],
        "locations": ["Scotland"],
    },
    {
        "identifier": "demo-ksn-kinship-in-practice-nlcf-2023",
        "organisation": "Kinship Scotland Network",
        "title": "Kinship in Practice: a learning network for relationship-centred work across Scotland",
        "summary": (
            "A network that links Scottish practitioners who work relationally in health, care, "
            "housing and community settings, with a public map of the field, peer learning on "
            "measuring relational impact and a shared handbook. The same project as our bid to "
            "The Thistle and Heather Trust, at a larger scale to reach island communities."
        ),
        "body": """## Background

Scotland's public service reform has long talked about relationships, but the people who practise
relationally (link workers, community nurses, tenancy officers, youth workers) rarely have time to
learn from each other. The field is fragmented and its evidence is hard to find.

## Our plan

Over two years we will build a **learning network for relationship-centred practice**:

1. **Map the field**: a public, member-maintained map of who is doing relational work and where.
2. **Peer learning**: six cohorts of practitioners, two of them in island communities, exploring
   how to measure relational impact without reducing it to a tick-box.
3. **An open handbook** bringing together evidence and practical tools, updated as we learn.
4. **Funder conversations**: round tables with funders on relational philanthropy.

## Governance

A paid reference group of nine organisations, recruited openly from the Highlands and Islands,
the central belt and the south of Scotland, sets the network's priorities. Kinship Scotland Network
provides coordination.

## Costs

GBP 240,000 over 24 months: a coordinator and an islands development worker, honoraria for the
reference group, learning cohorts and travel. We have applied to The Thistle and Heather Trust for
the core of this work and will tell both funders about each other's decision.
""",
        "funder": NLCF, "programme": "Bringing People Together",
        "amount_requested": "240000", "currency": "GBP", "duration_months": 24,
        "submitted_on": "2023-02-06", "status": "submitted",
        "themes": ["relational practice", "collaboration", "public services"],
        "locations": ["Scotland"],
    },
    {
        "identifier": "demo-hln-older-people-belfast-2023",
        "organisation": "Harbour Lane Neighbours",
        "title": "Nobody Alone: reducing loneliness among older people in east Belfast",
        "summary": (
            "Weekly drop-in cafés, a volunteer befriending scheme and door-knocking in four streets "
            "of east Belfast, so that older people living alone have someone to talk to every week "
            "and neighbours know who might need a hand."
        ),
        "body": """## The need

One in three people over 75 in our area lives alone. Since the pandemic many have stopped going
out; some tell us they can go a week without speaking to anyone.

## What we will do

- **Weekly cafés** in the church hall and the community centre, with transport for those who need it.
- **Befriending**: 40 trained volunteers, each matched with one or two older neighbours for a
  weekly visit or phone call.
- **Street connectors**: a volunteer on each of four streets who knows their neighbours and can
  spot when someone is struggling.
- **Trips and celebrations** four times a year, planned by the older people themselves.

## Outcomes

- 120 older people take part over three years.
- Participants report lower loneliness on the three-item UCLA scale after six months.
- Volunteers report stronger ties with their neighbours.

## Partners

A local GP practice and the health trust's community navigators refer people to us, and two
churches and a community centre lend us space.

## Budget

GBP 95,000 over three years: a part-time coordinator, volunteer expenses and training, venue
hire and transport.
""",
        "funder": NLCF, "programme": "Reaching Communities",
        "amount_requested": "95000", "currency": "GBP", "duration_months": 36,
        "submitted_on": "2023-04-11", "status": "submitted",
        "themes": ["loneliness", "older people", "befriending"],
        "locations": ["Northern Ireland", "Belfast"],
    },
    {
        "identifier": "demo-tat-befriending-manchester-2022",
        "organisation": "Tea and Talk Manchester",
        "title": "Tea and Talk: befriending and weekly gatherings for isolated older people in north Manchester",
        "summary": (
            "Volunteer befriending and weekly tea afternoons for older people who live alone in "
            "Harpurhey, Moston and Blackley, with street-level volunteers who notice when a "
            "neighbour is struggling."
        ),
        "body": """## Why

Loneliness among older people in north Manchester is among the highest in the city. GPs and
housing officers refer people to us, but our waiting list has grown to 70.

## Activities

- **Weekly tea afternoons** in three community venues, with accessible minibus transport.
- **One-to-one befriending**: 50 volunteers visiting or phoning an older neighbour every week.
- **Neighbour champions** on estates who check in on people living alone.
- **Seasonal outings** chosen by members.

## Outcomes

- 150 older people take part over two years.
- Fewer participants describe themselves as often or always lonely after six months.
- Volunteers stay with us for at least a year on average.

## Who we are

Tea and Talk began in 2015 as a single tea afternoon in a Moston church hall. Today 35 volunteers
support 90 members, and members sit on our board. We work closely with two GP practices, the
council's social prescribing team and the local housing association.

## Partners

- GP practices and social prescribers, who refer people to us.
- Local faith groups, who lend us venues at low cost.
- A nearby sixth-form college, whose students volunteer as befrienders.

## Costs

GBP 120,000 over two years: a befriending coordinator, volunteer training and expenses, venues
and transport.
""",
        "funder": NLCF, "programme": "Reaching Communities",
        "amount_requested": "120000", "amount_awarded": "120000", "currency": "GBP",
        "duration_months": 24, "submitted_on": "2022-06-01", "decided_on": "2022-11-15",
        "status": "awarded",
        "themes": ["loneliness", "older people", "befriending"],
        "locations": ["England", "North West", "Manchester"],
    },
    {
        "identifier": "demo-tat-telephone-draft-2024",
        "organisation": "Tea and Talk Manchester",
        "title": "Tea and Talk at Home: telephone befriending for housebound members",
        "summary": "A draft extension of our befriending service to people who cannot leave home.",
        "body": """## Idea

Some of our members are now housebound. We want to offer a daily telephone call and a monthly
home visit, and to train volunteers in spotting signs of ill health.

## Why now

Over the past year eleven of our members have become housebound after a fall or an illness.
They miss the tea afternoons and tell us the week feels very long. Our volunteers already phone
some of them informally, but without training, supervision or a record of concerns.

## What we might do

- a **daily call** for members who want one, from a rota of trained volunteers;
- a **monthly home visit** with a cake and the latest news from the tea afternoons;
- **training** for volunteers on spotting signs of illness, scams and neglect;
- a simple **record of concerns**, shared with the member's GP only with their consent.

## Still to decide

- whether to partner with the local carers' centre;
- how many volunteers we can support with one coordinator.
""",
        "funder": NLCF, "programme": "Awards for All",
        "amount_requested": "18000", "currency": "GBP", "duration_months": 12,
        "status": "draft", "visibility": "draft",
        "themes": ["loneliness", "older people"],
        "locations": ["England", "Manchester"],
    },
    {
        "identifier": "demo-nck-shared-tables-2022",
        "organisation": "Northgate Community Kitchen",
        "title": "Shared Tables: community meals in Leeds",
        "summary": (
            "Free weekly community meals in three Leeds neighbourhoods, cooked with surplus food, "
            "where people facing food insecurity eat together rather than collect a parcel alone."
        ),
        "body": """## The problem

Food banks in Leeds are stretched and many people feel ashamed to use them. Eating alone is
common among people on low incomes.

## What we will do

- Three **weekly community meals** cooked by volunteers from surplus supermarket food.
- A **pay-as-you-feel** café one day a week.
- **Signposting** to benefits and debt advice at every meal.

## Outcomes

- 300 people share a meal each month.
- Less food is wasted: 20 tonnes a year redistributed.

## Who we are

Northgate Community Kitchen has run a weekly lunch from a converted chapel since 2018, cooked by
volunteers, many of whom first came to eat. We already collect surplus food from two supermarkets
and a wholesale market.

## Partners

- Leeds food aid network, which shares surplus food and training.
- Citizens Advice Leeds, for benefits and debt advice at the meals.
- Two primary schools, whose families we reach through holiday activities.

## Budget

GBP 60,000 over 18 months for a kitchen coordinator, equipment and utilities.
""",
        "funder": MARRAM, "programme": "Food and Belonging",
        "amount_requested": "60000", "currency": "GBP", "duration_months": 18,
        "submitted_on": "2022-02-10", "decided_on": "2022-05-20", "status": "declined",
        "themes": ["food", "food insecurity", "community cohesion"],
        "locations": ["England", "Yorkshire and the Humber", "Leeds"],
    },
    {
        "identifier": "demo-nck-shared-tables-resubmission-2023",
        "organisation": "Northgate Community Kitchen",
        "title": "Shared Tables: community meals and cooking skills in Leeds (resubmission)",
        "summary": (
            "A revised version of our declined 2022 bid: community meals in three Leeds "
            "neighbourhoods, now with cooking courses led by participants and a clearer plan for "
            "measuring how the meals reduce isolation as well as hunger."
        ),
        "body": """## What changed since our first bid

The Marram Foundation's feedback asked for clearer outcomes and more involvement of the people
who eat with us. We have spent a year testing both.

## What we will do

- Three **weekly community meals** cooked from surplus food, now co-hosted by regular diners.
- **Cooking courses**: eight-week courses on cooking well on a budget, led by trained participants.
- A **pay-as-you-feel café** and a **community fridge**.
- **Advice at the table**: benefits, debt and housing advisers attend monthly.

## How we will know it works

- A short survey every six months on food insecurity and on loneliness.
- 40 participants complete a cooking course; ten go on to lead one.
- Diners join the planning group and decide the menu and the rules.

## Partners

Leeds food aid network, Citizens Advice Leeds and the city's adult learning service, which will
accredit the cooking courses.

## Budget

GBP 75,000 over 24 months: a kitchen coordinator, a part-time course leader, equipment, food
hygiene training and utilities.
""",
        "funder": MARRAM, "programme": "Food and Belonging",
        "amount_requested": "75000", "currency": "GBP", "duration_months": 24,
        "submitted_on": "2023-03-01", "status": "submitted",
        "themes": ["food", "food insecurity", "community cohesion", "skills"],
        "locations": ["England", "Yorkshire and the Humber", "Leeds"],
    },
    {
        "identifier": "demo-byc-youth-voices-2023",
        "organisation": "Brightside Youth Collective",
        "title": "Youth Voices for Neighbourhood Change in Glasgow's east end",
        "summary": (
            "Young people aged 14 to 21 in Glasgow's east end learn community organising, run "
            "listening campaigns with their neighbours and lead small changes to their area, with "
            "paid youth organiser roles."
        ),
        "body": """## Why

Young people in the east end tell us decisions about their area are made without them, and that
there is little to do in the evenings that is free and safe.

## What we will do

- **Organising academy**: twelve-week courses in community organising for 60 young people.
- **Listening campaigns**: young people interview 500 neighbours about what would improve the area.
- **Action projects**: at least six youth-led projects, such as safer routes home or a free
  evening space.
- **Paid roles**: four young people employed as part-time youth organisers.

## Outcomes

- Young people report more confidence and a stronger sense of belonging.
- Adults and young people in the area report more trust between generations.

## Who we are

Brightside Youth Collective was started in 2019 by young people who wanted a say in how the east
end changes. A youth board of eight members, aged 15 to 22, makes our decisions, and adults
support rather than direct the work.

## Partners

- Two secondary schools and a further education college, for recruitment.
- The local housing association, which has agreed to act on what young people find.
- A community organising trainer who has worked with youth groups across Scotland.

## Budget

GBP 85,000 over two years: youth organiser wages, a lead worker, training and project budgets.
""",
        "funder": THISTLE, "programme": "Stronger Together",
        "amount_requested": "85000", "currency": "GBP", "duration_months": 24,
        "submitted_on": "2023-05-08", "status": "submitted",
        "themes": ["youth", "community organising", "community cohesion"],
        "locations": ["Scotland", "Glasgow"],
    },
    {
        "identifier": "demo-dd-digital-doorstep-2022",
        "organisation": "Digital Doorstep",
        "title": "Digital Doorstep: home visits to get older people in Swansea online",
        "summary": (
            "Trained volunteers visit older people at home to help them get online safely, with "
            "loaned tablets and data, so they can stay in touch with family, book appointments and "
            "join community activities."
        ),
        "body": """## The need

Many older people in Swansea have never used the internet, and more services are moving online.
Group classes do not suit people with limited mobility or low confidence.

## What we will do

- **Home visits**: six visits per person from a trained digital champion.
- **Loan devices**: 80 tablets with a year of mobile data.
- **Online safety**: help to spot scams and protect personal data.
- **Bilingual support** in Welsh and English.

## Outcomes

- 200 older people get online, and most still use the internet weekly after six months.
- Participants report more contact with family and friends.

## Who we are

Digital Doorstep is a small social enterprise founded by a former librarian and a retired IT
teacher. Since 2019 we have helped more than 300 people get online through library sessions.

## Partners

- Swansea's libraries, which lend us rooms and refer people to us.
- A carers' organisation and two sheltered housing schemes, which identify people who cannot
  travel to a group session.
- A local firm that refurbishes donated tablets at cost.

## Budget

GBP 40,000 over 12 months: a coordinator, volunteer training, devices and data.
""",
        "funder": FFYNNON, "programme": "Connected Communities",
        "amount_requested": "40000", "amount_awarded": "38000", "currency": "GBP",
        "duration_months": 12, "submitted_on": "2022-09-05", "decided_on": "2022-12-12",
        "status": "awarded",
        "themes": ["digital inclusion", "older people", "loneliness"],
        "locations": ["Wales", "Swansea"],
    },
    {
        "identifier": "demo-cgb-shared-spaces-2023",
        "organisation": "Common Ground Belfast",
        "title": "Shared Spaces: cross-community sport and dialogue for young people in Belfast",
        "summary": (
            "Mixed football and basketball leagues for young people from different communities in "
            "north and west Belfast, with facilitated dialogue sessions and joint cross-border trips."
        ),
        "body": """## Context

Young people in north and west Belfast still grow up largely apart: separate schools, separate
clubs and contested spaces between them.

## What we will do

- **Mixed leagues**: four cross-community teams training together weekly in shared venues.
- **Dialogue sessions**: monthly facilitated conversations on identity, history and belonging.
- **Cross-border exchanges**: two residential trips with partner clubs in County Donegal.
- **Young leaders**: 20 participants trained as coaches and peer facilitators.

## Outcomes

- 160 young people take part over two years.
- Participants report more friendships across community lines.
- Parents and coaches from both communities join a shared steering group.

## Who we are

Common Ground Belfast was founded in 2012 by coaches from both communities. We run weekly sessions
for 200 young people and have a board drawn equally from north and west Belfast.

## Partners

- Four sports clubs that open their pitches to shared training.
- Youth services in both communities, who help recruit and support participants.
- Two partner clubs in County Donegal for the cross-border exchanges.

## Budget

EUR 120,000 over 24 months: coaches, facilitators, venue hire, transport and residential costs.
""",
        "funder": SHARED_ISLAND, "programme": "Reconciliation Through Sport",
        "amount_requested": "120000", "currency": "EUR", "duration_months": 24,
        "submitted_on": "2023-06-19", "status": "submitted",
        "themes": ["community cohesion", "youth", "sport", "reconciliation"],
        "locations": ["Northern Ireland", "Belfast"],
    },
    {
        "identifier": "demo-rpl-relational-councils-2023",
        "organisation": "Relational Places Lab",
        "title": "Relational Councils: a peer learning network for relationship-centred local government in England",
        "summary": (
            "A two-year network linking council officers, community organisations and practitioners "
            "who want local services to work relationally, with a public map of relational practice, "
            "peer learning on measuring relational impact and open guides for commissioners."
        ),
        "body": """## The opportunity

Councils across England are experimenting with relational ways of working, from neighbourhood
teams to relational commissioning, but the learning is fragmented and rarely shared between
places. Practitioners lack evidence they can take to their managers.

## What we will do

- **A learning network** of 20 councils and their community partners, meeting quarterly.
- **A public map** of relational practice in local government, open to anyone to add to.
- **Peer learning sets** on measuring relational impact and on relational commissioning.
- **Open guides** for commissioners and funders, published under an open licence.
- **Experiments**: four councils test relational approaches to grant-making with local funders.

## Governance

An openly recruited, paid steering group of practitioners and residents sets the priorities;
Relational Places Lab coordinates.

## Outcomes

- Participating councils change at least one commissioning process.
- The map and guides are used beyond the network.

## Budget

GBP 220,000 over 24 months: coordination, honoraria, learning events and the guides.
""",
        "funder": MARRAM, "programme": "Relational Futures",
        "amount_requested": "220000", "currency": "GBP", "duration_months": 24,
        "submitted_on": "2023-02-27", "status": "submitted",
        "themes": ["relational practice", "public services", "collaboration"],
        "locations": ["England", "South West"],
    },
    {
        "identifier": "demo-lca-lunch-clubs-2022",
        "organisation": "Lochside Community Association",
        "title": "Lochside Lunch Clubs: food and friendship for older people in rural Highland",
        "summary": (
            "Fortnightly lunch clubs in five village halls, with volunteer drivers, so that older "
            "people in remote Highland villages share a hot meal and company."
        ),
        "body": """## Why

Older people in our villages live miles from shops and neighbours. Bus services have been cut
and winter makes isolation worse.

## What we will do

- **Lunch clubs** every fortnight in five village halls, cooked by local volunteers.
- **Volunteer drivers** bringing people who cannot travel on their own.
- **Activities** after lunch: music, crafts, health checks with the community nurse.
- **Winter phone tree** so that nobody goes a week without a call.

## Outcomes

- 90 older people attend regularly.
- Participants report eating better and feeling less alone.

## Who we are

Lochside Community Association has looked after its village hall since 1974 and runs a
community bus, a toddler group and an annual gala. Most of our 60 volunteers are themselves retired.

## Partners

- The community nursing team, which joins a lunch club each month for health checks.
- The primary school, whose pupils visit with songs and stories at Christmas.
- Neighbouring associations in four villages, who will host clubs in their halls.

## Budget

GBP 45,000 over two years: cook and driver expenses, hall hire, food and a part-time organiser.
""",
        "funder": THISTLE, "programme": "Stronger Together",
        "amount_requested": "45000", "amount_awarded": "45000", "currency": "GBP",
        "duration_months": 24, "submitted_on": "2022-03-15", "decided_on": "2022-06-30",
        "status": "awarded",
        "themes": ["older people", "food", "loneliness", "rural"],
        "locations": ["Scotland", "Highland"],
    },
    {
        "identifier": "demo-ech-connected-estates-2023",
        "organisation": "Eastfield Community Hub",
        "title": "Connected Estates: digital inclusion for families in social housing in Sheffield",
        "summary": (
            "Free wifi in the community hub, refurbished laptops and weekly help sessions so that "
            "families on the Eastfield estate can do homework, look for work and reach services online."
        ),
        "body": """## The need

A third of households on the estate have no broadband, and many children do homework on a
parent's phone. Job searches and benefit claims are now mostly online.

## What we will do

- **Free wifi** and a quiet study room in the hub, open six days a week.
- **Refurbished laptops** for 100 families, with a year of support.
- **Weekly help sessions** on job searching, online forms and staying safe online.
- **Homework club** run with the local primary and secondary schools.

## Outcomes

- 100 families have a working device and connection at home.
- Adults report more confidence using online services.

## Who we are

Eastfield Community Hub has run the estate's community centre since 2010: a food pantry, advice
sessions, a youth club and a café. Tenants make up half of our board.

## Partners

- The housing association, which will fund the hub's connection after the grant ends.
- Two schools, for the homework club and for identifying families without devices.
- A refurbishment charity that supplies and wipes donated laptops.

## Budget

GBP 110,000 over 24 months: a digital inclusion worker, devices, connectivity and session costs.
""",
        "funder": NLCF, "programme": "Reaching Communities",
        "amount_requested": "110000", "currency": "GBP", "duration_months": 24,
        "submitted_on": "2023-01-09", "decided_on": "2023-06-01", "status": "declined",
        "themes": ["digital inclusion", "families", "education"],
        "locations": ["England", "Yorkshire and the Humber", "Sheffield"],
    },
]

# (from bid, to bid, kind): lineage recorded by the from-bid's organisation.
LINKS = [
    ("demo-ksn-kinship-in-practice-nlcf-2023", "demo-ksn-kinship-in-practice-thistle-2023",
     "also_sent_to"),
    ("demo-nck-shared-tables-resubmission-2023", "demo-nck-shared-tables-2022", "resubmission_of"),
]

FUNDER_PEOPLE = {NLCF: "funder1@openbids.test", THISTLE: "funder2@openbids.test"}

# (funder, programme): typical awards let the pool spot bids too big for one member.
PROGRAMMES = [
    (NLCF, {"name": "Bringing People Together", "currency": "GBP",
            "description": "Projects that help people build relationships with others in their community.",
            "themes": "community cohesion; relational practice", "nations": "England; Scotland; Wales; Northern Ireland",
            "typical_award_min": "10000", "typical_award_max": "200000"}),
    (NLCF, {"name": "Reaching Communities", "currency": "GBP",
            "description": "Larger grants for communities facing disadvantage.",
            "themes": "loneliness; older people; food", "nations": "England; Scotland; Wales; Northern Ireland",
            "typical_award_min": "10000", "typical_award_max": "150000"}),
    (THISTLE, {"name": "Stronger Together", "currency": "GBP",
               "description": "(Fictional) connected, resilient communities in Scotland.",
               "themes": "youth; relational practice; older people", "nations": "Scotland",
               "typical_award_min": "5000", "typical_award_max": "60000", "budget": "1500000"}),
]

POOL = {
    "name": "Relationships Funders Pool",
    "purpose": "Funders of relationship-centred practice and community connection who want to "
               "spot overlapping bids early and co-fund what no single member could carry.",
    "themes": "relational practice; community cohesion; loneliness; youth",
    "geographies": "England; Scotland; Wales; Northern Ireland",
    "share_pledges_with_applicants": True,
}
