"""« Comment lire cette carte » : one sentence under each figure of a report, never its title again."""

from __future__ import annotations

import math

from geo.stats.report import BarChart, QuartierPanels
from webmap.documents._map_furniture import context_sentence


def _size(size: float) -> str:
    """« de 335 m » (side of the hexagons), or nothing when unknown."""
    return f" de {size:.0f} m" if math.isfinite(size) else ""


def gi_caption(size: float, context: str, *, hatched: bool = False) -> str:
    """Caption of the Gi* map."""
    text = (f"Comment lire cette carte : chaque hexagone{_size(size)} est coloré selon que ses "
            "événements, comptés avec ceux des hexagones voisins, sont plus nombreux (rouge, point chaud) "
            "ou moins nombreux (bleu, point froid) qu'au hasard, avec une confiance de 90, 95 ou 99 % "
            "après correction des tests multiples ; blanc, l'écart n'est pas significatif ; chaque point "
            "noir est un événement.")
    if hatched:
        text += (" Les hexagones hachurés sont hors de la zone où la source peut recevoir des "
                 "signalements : ils ne comptent pas comme des zéros.")
    return f"{text} {context_sentence(context)}"


def density_caption(bandwidth: float, context: str) -> str:
    """Caption of the kernel density map."""
    return (f"Comment lire cette carte : plus la teinte est foncée, plus les événements sont concentrés, "
            f"chaque événement étant étalé sur un rayon de {bandwidth:.0f} m ; c'est une illustration sans "
            "test statistique, à lire avec la carte des points chauds. " + context_sentence(context))


def emerging_caption(size: float, months: int, context: str) -> str:
    """Caption of the emerging hot spot map."""
    return (f"Comment lire cette carte : chaque hexagone{_size(size)} prend la couleur de l'évolution de "
            f"ses points chauds sur {months} mois (Gi* calculé mois par mois, tendance de Mann–Kendall) — "
            "nouveau, consécutif, persistant, en intensification… ; les rouges sont des points chauds, les "
            "bleus des points froids, les hexagones blancs n'ont pas de tendance. "
            + context_sentence(context))


def panels_caption(figure: QuartierPanels) -> str:
    """Caption of the small multiples of the territory report."""
    text = ("Comment lire ces cartes : une vignette par quartier, chacune à sa propre échelle (voir sa barre "
            "d'échelle) ; les hexagones sont colorés selon les points chauds et froids (Gi*) calculés sur le "
            "quartier et sa marge, comme dans son rapport de quartier ; les points sont les événements.")
    if figure.omitted:
        text += (f" Sans vignette, faute d'événement ou de source qui les couvre : "
                 f"{', '.join(figure.omitted)}.")
    return text


def bar_caption(figure: BarChart) -> str:
    """Caption of a bar chart."""
    if figure.horizontal:
        return (f"Comment lire ce graphique : une barre par quartier, du plus au moins concerné, longueur = "
                f"{figure.ylabel} ; les quartiers dont les chiffres sont inconnus (n.d.) n'ont pas de barre.")
    return f"Comment lire ce graphique : hauteur de chaque barre = {figure.ylabel}."
