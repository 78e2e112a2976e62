"""Texts of the Northwind Robotics example corpus (used by make_examples.py).

All facts are fictional. The handbook PDF uses fpdf2 core fonts, so its text stays within Latin-1.
"""

from __future__ import annotations

HANDBOOK_PAGES: list[tuple[str, list[str]]] = [
    ("Welcome to Northwind Robotics", [
        "Northwind Robotics GmbH builds autonomous mobile robots for warehouses. The company was founded in "
        "2014 in Hamburg and today employs about 240 people in Hamburg, Lyon and Yokohama. Our CEO is "
        "Dr. Lena Vogt.",
        "This handbook (version 3.2, effective 1 March 2025) describes the rules that apply to all "
        "employees of Northwind Robotics GmbH in Germany. Local rules for our subsidiaries in France and "
        "Japan are published separately.",
        "## Contents",
        "Page 2: Working hours and remote work\nPage 3: Holidays, sick leave and other leave\n"
        "Page 4: Parental leave and family support\nPage 5: Code of conduct and whistleblowing\n"
        "Page 6: Equipment, IT and contacts",
    ]),
    ("Working hours and remote work", [
        "## Working hours",
        "The regular working time is 38 hours per week for full-time employees. Core hours are from 10:00 to "
        "15:00, Monday to Friday; outside the core hours you organise your time freely (flexitime).",
        "Your flexitime account may hold at most 40 hours of credit and 20 hours of debit. Hours above the "
        "credit limit expire at the end of each quarter unless your manager has approved them in writing.",
        "Overtime must be approved in advance by your manager and is compensated with time off at a rate of "
        "1:1, or 1:1.25 for work on Sundays and public holidays.",
        "## Remote work",
        "Employees in Germany may work remotely up to 3 days per week, agreed with their team. Tuesday is "
        "the company-wide office day. Work from another EU country is allowed for up to 20 working days per "
        "calendar year after approval by HR.",
        "Northwind pays a home office allowance of EUR 30 per month with the salary, and provides a "
        "monitor, keyboard and headset for the home office on request.",
    ]),
    ("Holidays, sick leave and other leave", [
        "## Annual leave",
        "Full-time employees receive 25 days of paid annual leave per calendar year (pro rata for part-time "
        "staff and for those joining during the year). After 5 years of service you receive 1 extra day, "
        "after 10 years 2 extra days.",
        "Up to 5 unused days may be carried over into the next year; they must be taken by 31 March, "
        "otherwise they expire. Leave of more than 5 consecutive days must be requested in the HR portal "
        "Compass at least 4 weeks in advance.",
        "The offices close between Christmas and New Year (24 December to 1 January); 3 days of annual leave "
        "are reserved for this closure.",
        "## Sick leave",
        "If you are sick, tell your manager before 10:00 on the first day. A doctor's certificate is needed "
        "from the third calendar day of illness. Salary continues for up to 6 weeks per illness.",
        "## Special leave",
        "Paid special leave: 2 days for your own wedding, 1 day for moving house (once per year), 2 days for "
        "the death of a close family member.",
    ]),
    ("Parental leave and family support", [
        "## Parental leave",
        "Parents may take up to 36 months of parental leave per child, as provided by German law. Please "
        "inform HR at least 7 weeks before the leave starts.",
        "Northwind tops up the state parental allowance (Elterngeld) to 80 percent of your net salary for "
        "the first 8 weeks of parental leave.",
        "## Partner leave",
        "The second parent receives 10 working days of fully paid partner leave, to be taken within 8 weeks "
        "after the birth or adoption.",
        "## Childcare and return to work",
        "Northwind pays a childcare subsidy of EUR 150 per month for each child under 6 years. After "
        "parental leave you may return part-time (between 20 and 32 hours per week) for up to 2 years "
        "and then go back to your previous hours.",
    ]),
    ("Code of conduct and whistleblowing", [
        "## Gifts and invitations",
        "Employees may accept gifts from business partners only up to a value of EUR 50 per person and year. "
        "Gifts above this value must be reported to the Compliance Officer and are returned or donated.",
        "## Conflicts of interest",
        "Secondary employment must be reported to HR in writing before it starts.",
        "## Whistleblowing",
        "Concerns about misconduct can be reported through the Integrity Line "
        "(integrity.northwind-robotics.example), also anonymously, or directly to our Compliance Officer "
        "Marta Jensen (compliance@northwind-robotics.example).",
        "You will receive an acknowledgement within 7 days and feedback on the follow-up within 3 months, "
        "as required by the EU Whistleblower Directive. Northwind does not tolerate any retaliation against "
        "people who report in good faith.",
    ]),
    ("Equipment, IT and contacts", [
        "## Equipment",
        "Every employee receives a laptop, which is replaced every 3 years, and a smartphone if the role "
        "requires on-call duty. Lost or stolen devices must be reported to the IT helpdesk immediately.",
        "IT security rules (passwords, MFA, encryption) are described in the separate IT Security Policy.",
        "## Contacts",
        "People & Culture (HR): hr@northwind-robotics.example, extension 2100\n"
        "IT helpdesk: helpdesk@northwind-robotics.example, extension 4357, Monday to Friday 08:00-18:00\n"
        "Works council: betriebsrat@northwind-robotics.example, chair Stefan Kruger\n"
        "Compliance Officer: Marta Jensen, extension 2250",
    ]),
]

SECURITY_POLICY: list[tuple[str, object]] = [
    ("title", "IT Security Policy"),
    ("p", "Version 2.1, approved on 15 January 2025 by the Chief Information Security Officer, Jonas Berger. "
          "This policy applies to all employees, contractors and interns of Northwind Robotics."),
    ("h1", "1 Scope"),
    ("p", "The policy covers all company devices, accounts and data, and private devices used to access "
          "company e-mail or chat."),
    ("h1", "2 Passwords and authentication"),
    ("p", "Accounts must follow the rules in the table below. Never reuse a company password elsewhere."),
    ("table", [
        ["Rule", "Requirement"],
        ["Minimum password length", "14 characters"],
        ["Multi-factor authentication (MFA)", "Required for all accounts, using the Authenticator app or a FIDO2 key"],
        ["Password change", "Only when a compromise is suspected (no periodic rotation)"],
        ["Password manager", "Company Bitwarden vault"],
        ["Account lockout", "After 10 failed attempts, for 15 minutes"],
    ]),
    ("h1", "3 Devices"),
    ("h2", "3.1 Laptops"),
    ("p", "All laptops must use full disk encryption (BitLocker on Windows, FileVault on macOS). The screen "
          "locks automatically after 5 minutes of inactivity."),
    ("p", "Security updates must be installed within 14 days; critical updates within 72 hours."),
    ("h2", "3.2 Removable media"),
    ("p", "USB storage devices are blocked, except encrypted company USB sticks issued by the IT helpdesk."),
    ("h1", "4 Incident reporting"),
    ("p", "Report any suspected security incident (phishing click, lost laptop, malware, data sent to the "
          "wrong recipient) within 1 hour to security@northwind-robotics.example or by phone to the 24/7 "
          "security hotline +49 40 5550 4400."),
    ("bullet", "Do not switch off an infected device; disconnect it from the network."),
    ("bullet", "Do not delete suspicious e-mails; forward them as an attachment."),
    ("h1", "5 Data classification"),
    ("table", [
        ["Class", "Examples", "Handling"],
        ["Public", "Product brochures, press releases", "No restrictions"],
        ["Internal", "Handbook, org charts", "Employees only"],
        ["Confidential", "Customer contracts, price lists", "Need to know; encrypted when sent outside"],
        ["Strictly confidential", "Salary data, source code of the R2 navigation stack", "Named persons only"],
    ]),
]

TRAVEL_SHEETS: list[tuple[str, list[tuple[object, ...]]]] = [
    ("Per diem", [
        ("Country", "City", "Daily allowance (EUR)", "Hotel cap per night (EUR)"),
        ("Germany", "Hamburg", 28, 150),
        ("Germany", "Munich", 28, 170),
        ("France", "Paris", 45, 190),
        ("France", "Lyon", 40, 150),
        ("Netherlands", "Rotterdam", 40, 160),
        ("United Kingdom", "London", 52, 220),
        ("Japan", "Tokyo", 52, 210),
        ("Japan", "Yokohama", 50, 180),
        ("United States", "Chicago", 60, 230),
    ]),
    ("Mileage", [
        ("Vehicle", "Rate per km (EUR)", "Notes"),
        ("Private car", 0.30, "Only if no pool car or train is available"),
        ("Private electric car", 0.30, "Charging at the office is free"),
        ("Motorcycle", 0.20, None),
        ("Bicycle", 0.10, "Also for e-bikes"),
        ("Pool car", 0.0, "Book in Compass; fuel card in the glove box"),
    ]),
]

PRODUCT_FAQ_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Northwind R2 warehouse robot - FAQ</title>
<meta name="description" content="Frequently asked questions about the Northwind R2 autonomous warehouse robot.">
<style>body { font-family: sans-serif; } td, th { padding: 4px; }</style>
<script>window.analytics = { track: function () {} };</script>
</head>
<body>
<nav><a href="/">Home</a> | <a href="/products">Products</a> | <a href="/support">Support</a></nav>
<main>
<h1>Northwind R2 warehouse robot: frequently asked questions</h1>
<p>The <strong>Northwind R2</strong> is an autonomous mobile robot that moves shelves and pallets in
warehouses without floor markers. These answers apply to hardware revision C, sold since September 2024.</p>

<h2>Battery and charging</h2>
<h3>How long does the battery last?</h3>
<p>A full charge lasts up to <b>10 hours</b> of continuous operation with a typical 100 kg load.</p>
<h3>How fast does it charge?</h3>
<p>The R2 charges from 0 to 80&nbsp;% in 45 minutes at its docking station; a full charge takes 70 minutes.
The robot docks by itself when its battery falls below 20&nbsp;%.</p>

<h2>Load and movement</h2>
<h3>What payload can the R2 carry?</h3>
<p>The maximum payload is 150 kg. With the optional lift module (R2-L) it can lift shelves of up to
120 kg by 60 mm.</p>
<h3>How fast does it drive?</h3>
<p>Top speed is 2 m/s in empty aisles; in zones shared with people the fleet controller limits it to 1 m/s.</p>

<h2>Specifications</h2>
<table>
<caption>Northwind R2 (revision C) technical data</caption>
<tr><th>Property</th><th>Value</th></tr>
<tr><td>Dimensions (L x W x H)</td><td>980 x 640 x 320 mm</td></tr>
<tr><td>Own weight</td><td>118 kg</td></tr>
<tr><td>Operating temperature</td><td>0 to 40 &deg;C</td></tr>
<tr><td>Robots per site controller</td><td>up to 50</td></tr>
<tr><td>Protection class</td><td>IP54</td></tr>
</table>

<h2>Warranty and support</h2>
<h3>How long is the warranty?</h3>
<p>Every R2 comes with a 3-year warranty, extendable to 5 years with a Premium service contract.</p>
<h3>When can I reach support?</h3>
<p>Support is available Monday to Friday from 07:00 to 19:00 CET by phone (+49 40 5550 3000) and
e-mail (support@northwind-robotics.example). Premium customers also have a 24/7 hotline for
robots that have stopped working.</p>
<ul>
<li>Standard response time: 4 business hours</li>
<li>Premium response time: 1 hour, on-site technician within 24 hours</li>
</ul>
</main>
<footer>&copy; 2025 Northwind Robotics GmbH &middot; Imprint &middot; Privacy</footer>
</body>
</html>
"""

RELEASE_NOTES_MD = """---
title: NWOS fleet software release notes
---

# NWOS fleet software release notes

NWOS is the software that runs on the Northwind R2 robots and on the site controller.
![NWOS logo](images/nwos-logo.png)

## 4.2.0 (10 February 2025)

- New **zone speed limits**: each zone on the site map can have its own speed limit between 0.3 and 2 m/s.
- The site controller now supports up to 50 robots (previously 35).
- Battery health report in the [fleet dashboard](https://fleet.northwind-robotics.example/reports).

### Known issues

- Robots with firmware older than 3.9 must be updated before joining a 4.2 fleet.

## 4.1.1 (3 December 2024)

- Fixed: robots could stop at charging stations when two robots arrived within 2 seconds.
- Fixed: the map editor lost unsaved changes after 30 minutes of inactivity.

## 4.1.0 (15 October 2024)

- Obstacle detection range increased from 5 m to 8 m with the new lidar driver.
- Added French and Japanese to the operator app.

| Component | Minimum version | Notes |
|-----------|-----------------|-------|
| Robot firmware | 3.9 | Update over the air |
| Site controller | 4.1.0 | Requires 16 GB RAM |
| Operator app | 2.7 | Android 12 or later |

## 4.0.0 (1 June 2024)

Breaking change: the REST API moved from `/api/v1` to `/api/v2`; the old API was switched off on
31 December 2024.
"""

SUPPLIER_BODY = """Dear Northwind procurement team,

please find attached our updated price list for BM drive units, valid for all orders placed from
1 April 2025. Prices increase by 4.5 percent on average because of higher copper and magnet costs.

Orders placed before 31 March 2025 are still invoiced at the old prices if delivery is requested
before 30 June 2025. The standard lead time stays at 6 weeks; the minimum order quantity is 20 units
per article.

Our delivery terms are also attached. If you have questions, call me at +48 58 555 0192.

Kind regards
Karin Holm
Key Account Manager, Baltic Motion Sp. z o.o., Gdansk
"""

SUPPLIER_PRICE_CSV = """Article;Description;Unit price 2024 (EUR);Unit price from 1 April 2025 (EUR)
BM-DU-400;Drive unit 400 W for R2;612.00;639.50
BM-DU-600;Drive unit 600 W for R2-L;784.00;819.30
BM-GB-12;Gearbox 1:12;148.00;154.70
BM-EN-2048;Encoder 2048 ppr;59.00;61.70
BM-BR-24;Holding brake 24 V;92.00;96.10
"""

SUPPLIER_TERMS_TXT = """Baltic Motion delivery terms 2025

Incoterms: DAP Hamburg (DAP Lyon for deliveries to Northwind Robotics France SAS).
Payment: 30 days net, 2 percent discount for payment within 10 days.
Warranty on drive units: 24 months from delivery.
Returns must be announced within 14 days and need an RMA number from returns@baltic-motion.example.
"""

TELETRAVAIL_FR: list[tuple[str, object]] = [
    ("title", "Politique de télétravail"),
    ("p", "Northwind Robotics France SAS, site de Lyon. Version 1.3, en vigueur depuis le 1er janvier 2025, "
          "validée par le CSE le 12 décembre 2024."),
    ("h1", "1. Bénéficiaires"),
    ("p", "Tous les salariés en CDI ou CDD ayant terminé leur période d'essai peuvent demander le télétravail. "
          "Les techniciens de maintenance sur site en sont exclus."),
    ("h1", "2. Nombre de jours"),
    ("p", "Le télétravail est possible jusqu'à 2 jours par semaine. Le mardi est la journée d'équipe : la "
          "présence au bureau est obligatoire ce jour-là."),
    ("p", "La demande se fait auprès du manager dans l'outil RH Compass, au moins 48 heures à l'avance."),
    ("h1", "3. Indemnités et équipement"),
    ("p", "Une indemnité forfaitaire de 2,70 € par jour de télétravail est versée avec le salaire, dans la "
          "limite de 59,40 € par mois. L'entreprise fournit un écran de 27 pouces, un clavier et un casque."),
    ("table", [
        ["Élément", "Montant ou règle"],
        ["Indemnité par jour de télétravail", "2,70 €"],
        ["Plafond mensuel", "59,40 €"],
        ["Prise en charge de la connexion internet", "Non"],
        ["Équipement fourni", "Écran 27 pouces, clavier, casque"],
    ]),
    ("h1", "4. Droit à la déconnexion"),
    ("p", "Aucun salarié n'est tenu de lire ou de répondre aux e-mails entre 20h00 et 7h30, ni le week-end. "
          "Les e-mails envoyés pendant cette plage portent la mention « réponse non attendue »."),
    ("h1", "5. Sécurité et assurance"),
    ("p", "Le télétravail se fait depuis le domicile déclaré. Un accident survenu pendant les heures de "
          "télétravail est présumé être un accident du travail et doit être déclaré aux RH sous 24 heures."),
]

DATENSCHUTZ_DE_HTML = """<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<title>Datenschutz-Richtlinie der Northwind Robotics GmbH</title>
</head>
<body>
<nav><a href="/intranet">Intranet</a> &gt; <a href="/intranet/richtlinien">Richtlinien</a></nav>
<h1>Datenschutz-Richtlinie</h1>
<p>Gültig ab 1. Februar 2025 für alle Beschäftigten der Northwind Robotics GmbH in Hamburg.
Verantwortlich: Geschäftsführung; Ansprechpartner ist der Datenschutzbeauftragte.</p>

<h2>1. Datenschutzbeauftragter</h2>
<p>Unser Datenschutzbeauftragter ist Dr. Felix Brandt. Sie erreichen ihn unter
datenschutz@northwind-robotics.example oder telefonisch unter Durchwahl 2290.</p>

<h2>2. Grundsätze</h2>
<ul>
<li>Personenbezogene Daten werden nur für festgelegte Zwecke verarbeitet (Zweckbindung).</li>
<li>Es werden nur so viele Daten erhoben, wie für den Zweck nötig sind (Datenminimierung).</li>
<li>Kundendaten dürfen nicht in private Cloud-Dienste oder öffentliche KI-Chatbots kopiert werden.</li>
</ul>

<h2>3. Löschfristen</h2>
<table>
<tr><th>Datenart</th><th>Löschfrist</th></tr>
<tr><td>Bewerbungsunterlagen abgelehnter Bewerber</td><td>6 Monate nach Abschluss des Verfahrens</td></tr>
<tr><td>Videoaufnahmen im Lager</td><td>72 Stunden</td></tr>
<tr><td>Protokolle der Robotersteuerung mit Personenbezug</td><td>30 Tage</td></tr>
<tr><td>Lohnabrechnungen</td><td>10 Jahre (steuerliche Aufbewahrungspflicht)</td></tr>
</table>

<h2>4. Datenpannen</h2>
<p>Jede mögliche Datenschutzverletzung (z.&nbsp;B. falsch versendete E-Mail mit Kundendaten, verlorener
Laptop) muss innerhalb von <strong>24 Stunden</strong> dem Datenschutzbeauftragten gemeldet werden.
Das Unternehmen meldet sie, falls erforderlich, innerhalb von 72 Stunden an die Aufsichtsbehörde
(Art. 33 DSGVO).</p>

<h2>5. Schulungen</h2>
<p>Alle Beschäftigten nehmen jährlich bis zum 31. März an der Online-Datenschutzschulung teil
(Dauer etwa 45 Minuten).</p>
<footer>Northwind Robotics GmbH · Intranet · Stand Februar 2025</footer>
</body>
</html>
"""

ANZEN_KITEI_JA_MD = """# 倉庫安全規程

ノースウィンド・ロボティクス株式会社 横浜倉庫（2025年4月1日改定、第4版）

## 1. 基本ルール

- 倉庫内では安全靴とヘルメットを必ず着用すること。
- 作業エリアでの携帯電話の使用は禁止する。通話は休憩室で行うこと。
- 来訪者は受付で入館証を受け取り、社員の同行なしに作業エリアへ入ってはならない。

## 2. フォークリフト

フォークリフトの最高速度は時速10キロメートルとする。歩行者通路の横断時は一時停止すること。
フォークリフトの運転は、社内講習を修了し運転許可証を持つ者に限る。始業前点検は毎日行い、結果を点検表に記録する。

## 3. R2ロボット走行エリア

R2ロボットの走行エリアは床の黄色い線で示されている。走行中のロボットから1メートル以上離れること。
ロボットが停止しない場合は、車体側面の赤い緊急停止ボタンを押すこと。

## 4. 棚と荷物

| 項目 | 基準 |
|------|------|
| 棚の最上段の高さ | 2.5メートル |
| 棚一段あたりの積載上限 | 500キログラム |
| 手で持ち上げる荷物の上限 | 1人25キログラム |

## 5. 事故と避難

事故やけがが発生した場合は、30分以内に安全管理者（佐藤健一）へ報告すること。内線は3110。
避難訓練は年2回、4月と10月に実施する。集合場所は正門前の駐車場とする。
"""

QUESTIONS = [
    ("en", "How many days of paid annual leave do full-time employees get?", "25 days",
     "employee-handbook.pdf", "3"),
    ("en", "What is the minimum password length?", "14 characters", "it-security-policy.docx", "1"),
    ("en", "What is the hotel cap per night in Tokyo?", "EUR 210", "travel-expenses.xlsx", "1 (sheet Per diem)"),
    ("en", "How long does the R2 battery last, and what payload can it carry?", "up to 10 hours; 150 kg",
     "product-faq.html", "1"),
    ("en", "What will drive unit BM-DU-400 cost from 1 April 2025?", "EUR 639.50", "supplier-update.eml",
     "2 (attachment price-list-2025.csv)"),
    ("en", "Within how many days is a whistleblower report acknowledged?", "7 days", "employee-handbook.pdf", "5"),
    ("fr", "Combien de jours de télétravail par semaine sont autorisés ?", "2 jours",
     "politique-teletravail-fr.docx", "1"),
    ("de", "Wie lange werden Videoaufnahmen im Lager gespeichert?", "72 Stunden", "datenschutz-richtlinie-de.html",
     "1"),
    ("ja", "事故が起きたら何分以内に誰へ報告しますか？", "30分以内に安全管理者（佐藤健一）へ",
     "anzen-kitei-ja.md", "1"),
    ("en, answered in Japanese", "What is the maximum forklift speed in the Yokohama warehouse?", "10 km/h",
     "anzen-kitei-ja.md", "1"),
    ("en, answered in French", "What is the remote-work allowance per day in France?",
     "EUR 2.70 per day, at most EUR 59.40 per month", "politique-teletravail-fr.docx", "1"),
]

QUESTIONS_MD = """# Example questions

Questions a user can ask about the example corpus, with the document and page that hold the answer.
Formats without pages count as page 1; the e-mail's attachments are pages 2 and 3 of the e-mail.

""" + "\n".join(
    f"{n}. ({lang}) {question}\n   - Answer: {answer}\n   - Source: {doc}, page {page}"
    for n, (lang, question, answer, doc, page) in enumerate(QUESTIONS, start=1)
) + "\n"
