#!/usr/bin/env python3
"""Seeded generator of realistic expense rows, as CSV with a header row.

    samples/generate_expenses.py --rows 2000 --seed 42 > samples/expenses.csv

The same seed always gives the same file (Python's random.Random is stable across versions
for these calls). Columns match samples/expenses.sql.
"""
import argparse
import csv
import datetime
import random
import sys

CATEGORIES = {
    "groceries": (800, 9000), "rent": (60000, 180000), "restaurants": (1200, 12000),
    "transport": (250, 6000), "utilities": (3000, 25000), "travel": (5000, 90000),
    "health": (1000, 30000), "entertainment": (800, 8000), "office": (500, 40000),
    "software": (300, 15000), "clothing": (1500, 20000), "gifts": (1000, 15000),
}
MERCHANTS = {
    "groceries": ["Edeka", "Carrefour", "Migros", "Tesco", "Lidl", "Konbini Seven"],
    "rent": ["Immobilien Müller GmbH", "Acme Properties"],
    "restaurants": ["Café Grünwald", "Trattoria Da Luigi", "Sushi Kō", "Le Petit Zinc", "Burger Barn"],
    "transport": ["DB Fernverkehr", "SNCF", "Uber", "TfL", "JR East"],
    "utilities": ["Stadtwerke", "EDF", "Swisscom", "Vodafone"],
    "travel": ["Lufthansa", "easyJet", "Hôtel Étoile", "Airbnb", "Booking.com"],
    "health": ["Apotheke am Markt", "Pharmacie Centrale", "Dr. Svensson"],
    "entertainment": ["Kino Babylon", "Spotify", "Steam", "Théâtre du Châtelet"],
    "office": ["Staples", "Büro Kaiser", "IKEA"],
    "software": ["GitHub", "JetBrains", "Figma", "Notion"],
    "clothing": ["Zara", "Uniqlo", "H&M", "Patagonia"],
    "gifts": ["Fleurop", "Thalia", "Etsy"],
}
CURRENCIES = ["EUR"] * 6 + ["USD"] * 2 + ["GBP", "CHF", "JPY"]
NOTES = ["team lunch", "Geschäftsessen mit Kunden", "réunion client", "conference 🎤", "taxi to airport ✈",
         "出張", "monthly", "refund pending", "split with Ana", "Überstunden-Abendessen", "", "", "", ""]


def rows(count, seed, start=datetime.date(2022, 1, 1), years=3):
    rng = random.Random(seed)
    days = years * 365
    for i in range(1, count + 1):
        category = rng.choice(list(CATEGORIES))
        low, high = CATEGORIES[category]
        # Skewed amounts: most near the low end, a long tail towards the high end.
        amount = int(low + (high - low) * rng.random() ** 3)
        currency = rng.choice(CURRENCIES)
        if currency == "JPY":
            # JPY has no minor unit (ISO 4217: 0 decimals): the amount is whole yen, about
            # 150 yen to the euro (amount is in cents here, so 1.5 yen per cent).
            amount = amount * 150 // 100
        spent = start + datetime.timedelta(days=rng.randrange(days))
        note = rng.choice(NOTES)
        yield [i, spent.isoformat(), category, rng.choice(MERCHANTS[category]), amount, currency, note]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    out = csv.writer(sys.stdout, lineterminator="\r\n")
    out.writerow(["id", "spent_at", "category", "merchant", "amount_cents", "currency", "note"])
    for row in rows(args.rows, args.seed):
        out.writerow(row)


if __name__ == "__main__":
    main()
