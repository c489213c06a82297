"""Article extraction on whole pages: what the generic body keeps and drops."""

from __future__ import annotations

from crawler.extract.article import SiteRules, extract_article

PARAGRAPH = (
    "La souveraineté numérique du Maroc passe par des centres de données nationaux, selon le "
    "ministère, qui annonce deux nouveaux sites d'ici 2027 et un programme de formation. "
)


def page(*paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html><head><title>Cloud souverain</title></head><body><nav><a href='/'>Accueil</a></nav>"
        f"<article><h1>Cloud souverain</h1>{body}</article><footer>© H24info</footer></body></html>"
    )


def test_read_also_links_leave_the_body() -> None:
    # An audit's French bodies ended with "Lire aussi : Tanger, ville préférée des touristes", and
    # searching "Lire aussi" found them.
    html = page(
        PARAGRAPH * 2,
        "Lire aussi : Tanger, ville préférée des touristes",
        PARAGRAPH,
        "À lire aussi: Le Maroc et l'IA",
        "Il faut lire aussi les rapports de la Cour des comptes.",
    )
    body = extract_article(html, "https://h24info.ma/x/", SiteRules(languages=("fr",))).body
    assert "Tanger, ville préférée" not in body and "Le Maroc et l'IA" not in body
    assert "Il faut lire aussi les rapports" in body  # a sentence that only contains the words stays
