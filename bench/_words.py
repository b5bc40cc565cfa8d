"""Word lists and text helpers for realistic benchmark data (names, companies, phones)."""

import random
import unicodedata

# Word lists, packed several to a line.
# fmt: off
FIRST_NAMES = [
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannah", "Jonas", "Julia", "Karl",
    "Lea", "Lukas", "Marie", "Max", "Mia", "Noah", "Paul", "Sophie", "Tim", "Laura", "Elias",
    "Lina", "Finn", "Amelie", "Leon", "Johanna", "Moritz", "Charlotte", "Oskar", "Ida", "Emil",
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William",
    "Elizabeth", "Richard", "Susan", "Thomas", "Jessica", "Daniel", "Sarah", "Matthew", "Karen",
    "Anthony", "Nancy", "Mark", "Olivia", "Liam", "Ava", "Lucas", "Isabella", "Mateo", "Sofia",
    "Santiago", "Valentina", "Diego", "Camila", "Alejandro", "Lucia", "Javier", "Martina",
    "Giulia", "Francesco", "Chiara", "Alessandro", "Giorgia", "Lorenzo", "Camille", "Louis",
    "Chloé", "Hugo", "Manon", "Arthur", "Zofia", "Jakub", "Maja", "Kacper", "Zeynep", "Emre",
    "Elif", "Mehmet", "Ayşe", "Lars", "Ingrid", "Sven", "Astrid", "Pieter", "Femke", "Anouk",
    "Aiko", "Haruto", "Arjun", "Priya", "Omar", "Fatima", "Yusuf", "Leila",
]

# Most common first: row k is drawn with weight 1 / (k + 10) ** 1.1, a Zipf-like long tail, so the
# commonest surname is about 3% of an account's contacts and the rarest a few dozen rows.
LAST_NAMES = [
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
    "Hoffmann", "Smith", "Johnson", "Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
    "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Werner",
    "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Taylor", "Moore", "Jackson",
    "Thompson", "White", "Harris", "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen",
    "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green", "Adams", "Nelson",
    "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Rossi", "Russo",
    "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino", "Greco", "Bruno",
    "Gallo", "Conti", "Mancini", "Costa", "Giordano", "Rizzo", "Lombardi", "Moretti", "Bernard",
    "Dubois", "Durand", "Leroy", "Moreau", "Laurent", "Lefebvre", "Michel", "Fontaine",
    "Chevalier", "Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński",
    "Lewandowski", "Zieliński", "Szymański", "Woźniak", "Yılmaz", "Kaya", "Demir", "Şahin",
    "Çelik", "Yıldız", "Aydın", "Öztürk", "Arslan", "Doğan", "Jansen", "Bakker", "Visser", "Smit",
    "Meijer", "Mulder", "Dekker", "Brouwer", "Jansson", "Johansson", "Andersson", "Karlsson",
    "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson", "Svensson", "Hansen", "Nielsen",
    "Pedersen", "Kristensen", "Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Yamamoto",
    "Nakamura", "Kobayashi", "Wang", "Zhang", "Chen", "Yang", "Huang", "Zhao", "Kumar", "Singh",
    "Sharma", "Patel", "Gupta", "Hussain", "Ahmed", "Ibrahim", "Hassan", "Mahmoud", "Schäfer",
    "Bauer", "Schubert", "Vogel", "Friedrich", "Keller", "Günther", "Frank", "Berger", "Winkler",
    "Roth", "Beck", "Lorenz", "Baumann", "Franke", "Albrecht", "Schuster", "Simon", "Ludwig",
    "Böhm", "Winter", "Kraus", "Martin", "Schumacher", "Krämer", "Vogt", "Stein", "Jäger", "Otto",
    "Sommer", "Groß", "Seidel", "Heinrich", "Brandt", "Haas", "Schreiber", "Graf", "Schulte",
    "Dietrich", "Ziegler", "Kuhn", "Kühn", "Pohl", "Engel", "Horn", "Busch", "Bergmann", "Thomas",
    "Voigt", "Sauer", "Arnold", "Wolff", "Pfeiffer", "Evans", "Edwards", "Collins", "Stewart",
    "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Peterson", "Cooper", "Reed", "Bailey",
    "Kelly", "Howard", "Ramos", "Castillo", "Morales", "Ortiz", "Gutierrez", "Chavez", "Ruiz",
    "Alvarez", "Mendoza", "Romero", "Herrera", "Medina", "Aguilar", "Vargas", "Castro",
    "Fernandez", "Jimenez", "Moreno", "Navarro", "Molina", "Delgado", "Ortega", "Serrano",
    "Blanco", "Suarez", "Rubio", "Iglesias", "Marín", "Sanz", "Nuñez", "Cabrera", "Gallagher",
    "Brennan", "Byrne", "Doherty", "Fitzgerald", "Sullivan", "Kavanagh", "Quinlan", "Lindqvist",
    "Bergström", "Holmberg", "Sandberg", "Lindgren", "Halvorsen", "Virtanen", "Korhonen",
    "Mäkinen", "Nieminen", "Hämäläinen", "Laine", "Heikkinen", "Papadopoulos", "Georgiou",
    "Dimitriou", "Novak", "Horvat", "Kovačević", "Babić", "Marković", "Petrović", "Popescu",
    "Ionescu", "Dumitru", "Stoica", "Kovács", "Szabó", "Tóth", "Nagy", "Dvořák", "Svoboda",
    "Černý", "Procházka", "Kuchař", "Vasquez", "Okafor", "Mensah", "Abubakar", "Oyelaran",
    "Banerjee", "Chatterjee", "Iyer", "Venkatesan", "Raghunathan", "Bhattacharya", "Thorvaldsen",
]

POSITIONS = [
    "CEO", "CFO", "CTO", "Buyer", "Engineer", "Consultant", "Assistant", "Office Manager",
    "Sales Manager", "Account Manager", "Project Manager", "Head of Purchasing", "Head of IT",
]

COMPANY_WORDS = [
    "Nord", "Süd", "Alpen", "Rhein", "Blue", "Green", "Summit", "Delta", "Nova", "Vertex", "Atlas",
    "Orion", "Apex", "Pioneer", "Horizon", "Quantum", "Silver", "Golden", "Lake", "River", "Stone",
    "Iron", "Bright", "Swift", "Cedar", "Falcon", "Harbor", "Maple", "Polar",
]
INDUSTRIES = [
    "Logistics", "Software", "Consulting", "Construction", "Medical", "Energy", "Foods", "Media",
    "Analytics", "Robotics", "Design", "Textiles", "Chemicals", "Insurance", "Retail",
    "Automotive",
]
# fmt: on

LEGAL_FORMS = ["GmbH", "AG", "KG", "Ltd", "Inc", "SE", "B.V.", "S.r.l.", "SAS"]
MAIL_PROVIDERS = ["gmail.com", "outlook.com", "gmx.de", "web.de", "yahoo.com", "icloud.com"]
COUNTRY_CODES = ["49", "49", "49", "43", "41", "44", "33", "39", "34", "31", "1"]


def phone_number(rng: random.Random) -> str:
    return f"+{rng.choice(COUNTRY_CODES)} {rng.randint(20, 999)} {rng.randint(100_000, 9_999_999)}"


def ascii_slug(text: str) -> str:
    text = text.lower()
    for umlaut, spelled in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, spelled)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(character for character in text if character.isalnum())
