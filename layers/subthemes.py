"""Sub-themes offered for each theme of a constat (suggestions: the field stays free text).

Taken from the types and sous-types of the Ville de Paris « Dans Ma Rue » reports
(../shared/data/paris/dansmarue-2023-2024-echantillon.csv, the most frequent sous-types
of each type, shortened), filed under the themes of :data:`layers.schema.THEMES`, and
completed for the themes Dans Ma Rue does not cover (parties communes, tranquillité,
aires de jeux) from the GUSP conventions' diagnostics. A town may type another sub-theme.
"""

from __future__ import annotations

SUBTHEMES: dict[str, tuple[str, ...]] = {
    "propreté": ("Déchets et/ou salissures divers", "Épanchement d'urine", "Déjections canines",
                 "Poubelle de rue sale ou débordante", "Déchets en pied d'arbre ou dans une jardinière",
                 "Feuilles mortes", "Fientes d'oiseaux", "Seringues"),
    "dépôts sauvages": ("Cartons ou sacs de déchets ménagers", "Gravats ou déchets de chantier",
                        "Dépôt au pied d'un point d'apport volontaire", "Déchets verts",
                        "Pneus", "Dépôt récurrent (point noir)"),
    "encombrants": ("Autres objets encombrants abandonnés", "Mobilier, literie",
                    "Électroménager", "Objets infestés de punaises de lit", "Chariot de supermarché",
                    "Barrières et autres objets de chantier (hors gravats)"),
    "éclairage": ("Éclairage public éteint la nuit", "Éclairage public allumé le jour",
                  "Lampadaire en mauvais état", "Fils électriques apparents",
                  "Coffret ou armoire électrique ouvert", "Éclairage de hall ou de parking en panne"),
    "voirie": ("Trottoir : affaissement, trou, bosse, pavé arraché", "Trottoir : revêtement manquant",
               "Chaussée : affaissement, trou, bosse, pavé arraché", "Chantier sans barrière ni information",
               "Feux tricolores éteints ou cassés", "Bordure ou caniveau dégradé"),
    "mobilier urbain": ("Potelet, barrière ou garde-corps détérioré", "Banc détérioré",
                        "Plaque de nom de rue manquante ou cassée", "Poubelle de rue dégradée",
                        "Mobilier d'accroche 2 roues détérioré", "Abribus détérioré",
                        "Autre mobilier urbain détérioré"),
    "espaces verts": ("Herbes éparses", "Arbre dangereux ou en mauvais état", "Arbre à élaguer",
                      "Arbuste ou jardinière en mauvais état", "Végétation débordante en pied d'arbre",
                      "Pelouse en mauvais état", "Présence de rats"),
    "stationnement": ("Véhicule motorisé en stationnement gênant",
                      "Deux-roues motorisé en stationnement gênant",
                      "Épave d'automobile ou de deux-roues motorisé", "Épave de vélo",
                      "Trottinette ou vélo en libre-service abandonné", "Stationnement sur place handicapé"),
    "tranquillité": ("Regroupement dans un hall", "Nuisance sonore", "Rodéo motorisé",
                     "Occupation d'une cage d'escalier", "Trafic (signalé à la police)",
                     "Étalage ou terrasse gênant la circulation"),
    "parties communes": ("Hall sale", "Porte de hall ou interphone en panne", "Ascenseur en panne",
                         "Boîtes aux lettres dégradées", "Éclairage des parties communes en panne",
                         "Local poubelles sale ou encombré", "Cave ou parking squatté"),
    "tags et graffitis": ("Graffitis sur mur, façade, pont ou descente d'eau pluviale",
                          "Affiches ou graffitis sur mobilier urbain", "Graffitis sur rideau métallique",
                          "Affiches sur mur, façade, pont", "Peinture sur trottoir ou chaussée",
                          "Inscriptions haineuses"),
    "collecte des déchets": ("Colonne à verre dégradée, sale ou débordante",
                             "Conteneur textile dégradé, sale ou débordant",
                             "Bac à ordures ménagères abandonné, sale ou débordant",
                             "Point d'apport volontaire plein", "Collecte non effectuée",
                             "Bac roulant laissé sur le trottoir"),
    "aires de jeux": ("Jeu d'enfants détérioré", "Sol amortissant dégradé", "Aire de jeux sale",
                      "Clôture ou portillon cassé", "Table de jeu ou aire sportive détériorée"),
    "signalétique": ("Panneau routier endommagé", "Panneau manquant", "Panneau mal orienté",
                     "Panneau d'information piéton détérioré", "Marquage au sol effacé"),
    "eau et assainissement": ("Grosse flaque d'eau dans le caniveau ou sur la chaussée",
                              "Appareil hydraulique au sol avec écoulement permanent",
                              "Fontaine à boire sale, détériorée ou hors service",
                              "Poteau d'incendie défectueux", "Avaloir ou regard bouché",
                              "Odeurs d'égout"),
    "autre": (),
}


def subthemes_of(theme: str) -> tuple[str, ...]:
    """Return the sub-themes suggested for ``theme`` (none for an unknown theme)."""
    return SUBTHEMES.get(theme, ())
